-- Interactive sign-in: user passwords and public client registrations (read models of their
-- events), and the short-lived grants of the authorization code, device code and refresh
-- token flows (state, not events: only hashes of codes and tokens are stored).
CREATE TABLE IF NOT EXISTS ${schema}.user_passwords (
  object_id   uuid PRIMARY KEY REFERENCES ${schema}.principals(object_id),
  hash        text NOT NULL,
  set_at      timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS ${schema}.applications (
  app_id         uuid PRIMARY KEY,
  tenant_id      uuid NOT NULL,
  display_name   text NOT NULL,
  redirect_uris  jsonb NOT NULL,
  public_client  boolean NOT NULL,
  created_at     timestamptz NOT NULL,
  UNIQUE (tenant_id, display_name)
);
CREATE TABLE IF NOT EXISTS ${schema}.authorization_codes (
  code_hash       text PRIMARY KEY,
  tenant_id       uuid NOT NULL,
  client_id       uuid NOT NULL,
  object_id       uuid NOT NULL,
  redirect_uri    text NOT NULL,
  scope           text NOT NULL,
  nonce           text,
  code_challenge  text,
  expires_at      timestamptz NOT NULL,
  redeemed_at     timestamptz,
  family_id       uuid
);
CREATE TABLE IF NOT EXISTS ${schema}.device_codes (
  device_code_hash  text PRIMARY KEY,
  user_code         text NOT NULL UNIQUE,
  tenant_id         uuid NOT NULL,
  client_id         uuid NOT NULL,
  scope             text NOT NULL,
  interval_seconds  integer NOT NULL,
  expires_at        timestamptz NOT NULL,
  last_poll_at      timestamptz,
  object_id         uuid,
  approved_at       timestamptz,
  redeemed_at       timestamptz
);
CREATE TABLE IF NOT EXISTS ${schema}.refresh_tokens (
  token_hash   text PRIMARY KEY,
  family_id    uuid NOT NULL,
  tenant_id    uuid NOT NULL,
  client_id    uuid NOT NULL,
  object_id    uuid NOT NULL,
  scope        text NOT NULL,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  rotated_at   timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family_idx ON ${schema}.refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_object_idx ON ${schema}.refresh_tokens (object_id);
