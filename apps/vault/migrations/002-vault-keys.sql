-- Read models of the vault's key METADATA (the crypto service holds the material), kept in
-- step with the key events in the same transaction as each append. Rebuildable from the events.

CREATE TABLE IF NOT EXISTS ${schema}.keys (
  vault_id             uuid        NOT NULL,
  name_key             text        NOT NULL,
  name                 text        NOT NULL,
  status               text        NOT NULL CHECK (status IN ('active', 'deleted')),
  latest_version       text        NOT NULL,
  managed              boolean     NOT NULL DEFAULT false,
  deleted_date         bigint,
  scheduled_purge_date bigint,
  rotation_policy      jsonb,
  stream_version       bigint      NOT NULL,
  PRIMARY KEY (vault_id, name_key)
);
CREATE INDEX IF NOT EXISTS keys_status_idx ON ${schema}.keys (vault_id, status, name_key);
CREATE INDEX IF NOT EXISTS keys_purge_due_idx ON ${schema}.keys (scheduled_purge_date) WHERE status = 'deleted';
CREATE INDEX IF NOT EXISTS keys_rotation_idx ON ${schema}.keys (vault_id) WHERE rotation_policy IS NOT NULL AND status = 'active';

CREATE TABLE IF NOT EXISTS ${schema}.key_versions (
  vault_id       uuid        NOT NULL,
  name_key       text        NOT NULL,
  version        text        NOT NULL,
  seq            bigint      GENERATED ALWAYS AS IDENTITY,
  kty            text        NOT NULL,
  key_size       integer,
  crv            text,
  key_ops        jsonb       NOT NULL,
  hsm            boolean     NOT NULL,
  exportable     boolean     NOT NULL,
  enabled        boolean     NOT NULL,
  nbf            bigint,
  exp            bigint,
  tags           jsonb,
  release_policy jsonb,
  created        bigint      NOT NULL,
  updated        bigint      NOT NULL,
  PRIMARY KEY (vault_id, name_key, version)
);
