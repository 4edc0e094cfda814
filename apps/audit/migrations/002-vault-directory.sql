-- Vault id → name, learnt from observed vault lifecycle events (secret/key events name vaults by id).
CREATE TABLE IF NOT EXISTS ${schema}.vault_directory (
  tenant    text NOT NULL,
  vault_id  text NOT NULL,
  name      text NOT NULL,
  CONSTRAINT vault_directory_pkey PRIMARY KEY (tenant, vault_id)
);
