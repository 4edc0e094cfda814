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
  SIGN_IN_MAX_FAILURES_PER_USER: int('failed sign-ins of one user within SIGN_IN_LOCKOUT_SECONDS before it is throttled', 5, 1, 1000),
  SIGN_IN_MAX_FAILURES_PER_ADDRESS: int('failed sign-ins from one address within SIGN_IN_LOCKOUT_SECONDS before it is throttled', 50, 1, 100_000),
  SIGN_IN_LOCKOUT_SECONDS: int('the sliding window (and lockout) of sign-in throttling', 900, 10, 86_400),
  SIGN_IN_SESSION_LIFETIME_SECONDS: int('how long a sign-in session (the SSO cookie of the authorization endpoint) signs its user in without a password', 8 * 3600, 60, 30 * 86_400),
  DEVICE_CODE_LIFETIME_SECONDS: int('how long a device code waits for its user', 900, 10, 3600),
  DEVICE_CODE_INTERVAL_SECONDS: int('the polling interval a device code asks for', 5, 1, 60),
  REFRESH_TOKEN_LIFETIME_DAYS: int('how long an unused refresh token stays valid', 90, 1, 365),
  BOOTSTRAP_FILE: str('where the first start writes the administrator credentials', ''),
};
