-- Read models of the identity service, kept in step with its events in the same transaction.
CREATE TABLE IF NOT EXISTS ${schema}.tenants (
  tenant_id    uuid PRIMARY KEY,
  name         text NOT NULL,
  is_default   boolean NOT NULL DEFAULT false,
  created_at   timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS ${schema}.principals (
  object_id     uuid PRIMARY KEY,
  tenant_id     uuid NOT NULL,
  app_id        uuid NOT NULL UNIQUE,
  kind          text NOT NULL,
  display_name  text NOT NULL,
  bound_to      text,
  enabled       boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL,
  UNIQUE (tenant_id, display_name, kind)
);
CREATE TABLE IF NOT EXISTS ${schema}.client_secrets (
  secret_id     uuid PRIMARY KEY,
  object_id     uuid NOT NULL REFERENCES ${schema}.principals(object_id),
  hash          text NOT NULL,
  hint          text NOT NULL,
  expires_at    timestamptz,
  revoked_at    timestamptz,
  created_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS client_secrets_object_idx ON ${schema}.client_secrets (object_id);
CREATE TABLE IF NOT EXISTS ${schema}.client_certificates (
  thumbprint_sha256  text PRIMARY KEY,
  thumbprint_sha1    text NOT NULL,
  object_id          uuid NOT NULL REFERENCES ${schema}.principals(object_id),
  public_key_pem     text NOT NULL,
  subject            text NOT NULL,
  not_after          timestamptz NOT NULL,
  revoked_at         timestamptz,
  created_at         timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS client_certificates_sha1_idx ON ${schema}.client_certificates (thumbprint_sha1);
CREATE TABLE IF NOT EXISTS ${schema}.managed_identity_headers (
  object_id     uuid PRIMARY KEY REFERENCES ${schema}.principals(object_id),
  header_hash   text NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS ${schema}.role_assignments (
  assignment_id       uuid PRIMARY KEY,
  principal_id        uuid NOT NULL,
  role_definition_id  text NOT NULL,
  scope               text NOT NULL,
  created_at          timestamptz NOT NULL,
  UNIQUE (principal_id, role_definition_id, scope)
);
CREATE TABLE IF NOT EXISTS ${schema}.signing_keys (
  kid          text PRIMARY KEY,
  alg          text NOT NULL,
  public_jwk   jsonb NOT NULL,
  private_enc  bytea NOT NULL,
  created_at   timestamptz NOT NULL,
  active_until timestamptz NOT NULL,
  publish_until timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS ${schema}.used_assertions (
  jti         text PRIMARY KEY,
  expires_at  timestamptz NOT NULL
);
