-- Read models of the vault service, kept in step with the event store in the same
-- transaction as each append (a GET right after a SET sees it). Rebuildable from the events.
-- Times of secrets are unix seconds, as Azure reports them.

CREATE TABLE IF NOT EXISTS ${schema}.vaults (
  name_key            text        PRIMARY KEY,
  vault_id            uuid        NOT NULL UNIQUE,
  name                text        NOT NULL,
  tenant_id           text        NOT NULL,
  retention_days      integer     NOT NULL,
  purge_protection    boolean     NOT NULL,
  tags                jsonb       NOT NULL DEFAULT '{}'::jsonb,
  status              text        NOT NULL CHECK (status IN ('active', 'deleted')),
  created             bigint      NOT NULL,
  updated             bigint      NOT NULL,
  deleted_date        bigint,
  scheduled_purge_date bigint,
  stream_version      bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS vaults_purge_due_idx ON ${schema}.vaults (scheduled_purge_date) WHERE status = 'deleted';

CREATE TABLE IF NOT EXISTS ${schema}.secrets (
  vault_id             uuid        NOT NULL,
  name_key             text        NOT NULL,
  name                 text        NOT NULL,
  status               text        NOT NULL CHECK (status IN ('active', 'deleted')),
  latest_version       text        NOT NULL,
  managed              boolean     NOT NULL DEFAULT false,
  data_key_id          text        NOT NULL,
  data_key_ref         text        NOT NULL,
  deleted_date         bigint,
  scheduled_purge_date bigint,
  stream_version       bigint      NOT NULL,
  PRIMARY KEY (vault_id, name_key)
);
CREATE INDEX IF NOT EXISTS secrets_status_idx ON ${schema}.secrets (vault_id, status, name_key);
CREATE INDEX IF NOT EXISTS secrets_purge_due_idx ON ${schema}.secrets (scheduled_purge_date) WHERE status = 'deleted';

CREATE TABLE IF NOT EXISTS ${schema}.secret_versions (
  vault_id      uuid        NOT NULL,
  name_key      text        NOT NULL,
  version       text        NOT NULL,
  seq           bigint      GENERATED ALWAYS AS IDENTITY,
  ciphertext    bytea       NOT NULL,
  key_id        text        NOT NULL,
  key_ref       text        NOT NULL,
  content_type  text,
  tags          jsonb,
  enabled       boolean     NOT NULL,
  nbf           bigint,
  exp           bigint,
  created       bigint      NOT NULL,
  updated       bigint      NOT NULL,
  PRIMARY KEY (vault_id, name_key, version)
);
