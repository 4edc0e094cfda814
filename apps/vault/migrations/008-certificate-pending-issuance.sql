-- The certificate issuance pass (certificate-lifetime.scheduler.ts) looks for active
-- certificates whose operation is still in progress: Self/Keyledger issuance runs off the
-- request path (no GET appends), and the pass takes over those a restart or a failure left.
-- A partial index keeps that look-up to the few rows in progress.

CREATE INDEX IF NOT EXISTS certificates_pending_idx
  ON ${schema}.certificates (vault_id, name_key)
  WHERE status = 'active' AND (state->'pending'->>'status') = 'inProgress';
