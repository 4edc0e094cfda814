import { commonSchema, port } from '#libs/platform';

export const cryptoSchema = {
  ...commonSchema,
  CRYPTO_PORT: port('HTTPS port of the crypto service', 9444),
};
