-- A Managed HSM pool's local RBAC and settings are events on stream `hsmadmin-{poolId}` (the
-- pool's vault_id). This table holds only each pool's stream version, written in the same
-- transaction as every append: vault instances compare it (a few rows) to the versions they
-- hold and fold the streams that moved, so a change made on one instance is enforced by all
-- within the refresh interval. Rebuildable from the events (max stream_version per stream).
CREATE TABLE IF NOT EXISTS ${schema}.managed_hsm_administration (
  pool_id        uuid    PRIMARY KEY,
  stream_version bigint  NOT NULL
);
