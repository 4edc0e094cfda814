-- Managed HSM pools: a second kind of container, with the vaults' lifecycle (soft delete,
-- recover, purge) and their own namespace (a pool may have a vault's name, as in Azure where
-- vaults and managed HSMs are different resource types). Events on stream `managedhsm-{name}`
-- (the vault events, `VaultCreated.kind = 'managedHsm'`); this read model is rebuilt from them.
-- Keys of a pool live in the keys tables by the pool's vault_id (UUIDs are unique across kinds).
CREATE TABLE IF NOT EXISTS ${schema}.managed_hsms (LIKE ${schema}.vaults INCLUDING ALL);
