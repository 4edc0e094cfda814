-- Read model of certificates: each certificate's state folded from its events (policy, pending
-- operation, versions with their public certificates), kept in step in the same transaction as
-- each append. Rebuildable from the events. Never a private key, PKCS#12 or password.

CREATE TABLE IF NOT EXISTS ${schema}.certificates (
  vault_id             uuid        NOT NULL,
  name_key             text        NOT NULL,
  name                 text        NOT NULL,
  status               text        NOT NULL CHECK (status IN ('active', 'deleted')),
  state                jsonb       NOT NULL,
  deleted_date         bigint,
  scheduled_purge_date bigint,
  stream_version       bigint      NOT NULL,
  PRIMARY KEY (vault_id, name_key)
);
CREATE INDEX IF NOT EXISTS certificates_status_idx ON ${schema}.certificates (vault_id, status, name_key);
CREATE INDEX IF NOT EXISTS certificates_purge_due_idx ON ${schema}.certificates (scheduled_purge_date) WHERE status = 'deleted';
