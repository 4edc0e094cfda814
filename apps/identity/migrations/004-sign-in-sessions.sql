-- Sign-in sessions (the SSO cookie of the authorization endpoint) and the failure counters of
-- sign-in throttling. State, not events: only the SHA-256 hash of a session cookie is stored;
-- `session_id` is the session's public name (audit records carry it, never the cookie).
CREATE TABLE IF NOT EXISTS ${schema}.sign_in_sessions (
  cookie_hash      text PRIMARY KEY,
  session_id       uuid NOT NULL UNIQUE,
  tenant_id        uuid NOT NULL,
  object_id        uuid NOT NULL,
  -- The user's password when the session began: a new password ends the session.
  password_set_at  timestamptz,
  created_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  last_used_at     timestamptz NOT NULL,
  revoked_at       timestamptz,
  revoked_reason   text
);
CREATE INDEX IF NOT EXISTS sign_in_sessions_object_idx ON ${schema}.sign_in_sessions (object_id);
-- One row per failed sign-in, per counter (`user:{tenant}:{name}`, `ip:{address}`); rows older
-- than the lockout window are pruned. Shared by every identity instance, kept across restarts.
CREATE TABLE IF NOT EXISTS ${schema}.sign_in_failures (
  counter    text NOT NULL,
  failed_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sign_in_failures_counter_idx ON ${schema}.sign_in_failures (counter, failed_at);
