import { commonSchema, port } from '#libs/platform';

export const vaultSchema = {
  ...commonSchema,
  VAULT_PORT: port('HTTPS port of the vault service', 8443),
};
