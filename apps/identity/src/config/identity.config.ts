import { commonSchema, int, port, str, url } from '#libs/platform';

export const identitySchema = {
  ...commonSchema,
  IDENTITY_PORT: port('HTTPS port of the identity service', 9443),
  IDENTITY_PUBLIC_URL: url('the authority host as clients see it (issuer and endpoints are built from it)', 'https://localhost:9443', ['https']),
  KEYLEDGER_DOMAIN: str('DNS domain of the deployment: vaults live at https://{vault}.vault.<domain>', 'localhost'),
  TOKEN_LIFETIME_SECONDS: int('lifetime of access tokens', 3600, 300, 86_400),
  IDENTITY_FAILED_AUTH_PER_CLIENT: int('failed client authentications per client per minute before the token endpoint answers 429 with Retry-After', 10, 1, 1_000_000),
  IDENTITY_FAILED_AUTH_PER_ADDRESS: int('failed client authentications per caller address per minute before the token endpoint answers 429 with Retry-After', 30, 1, 1_000_000),
  SIGNING_KEY_ROTATION_HOURS: int('how long one token signing key is used before a new one takes over', 24, 1, 24 * 90),
  IDENTITY_SIGNING_KEK: str('base64 32-byte key that encrypts token signing keys at rest (default: a file under KEYLEDGER_HOME/identity)', '', true),
  BOOTSTRAP_FILE: str('where the first start writes the administrator credentials', ''),
};
