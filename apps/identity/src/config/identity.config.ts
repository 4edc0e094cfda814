import { commonSchema, port } from '#libs/platform';

export const identitySchema = {
  ...commonSchema,
  IDENTITY_PORT: port('HTTPS port of the identity service', 9443),
};
