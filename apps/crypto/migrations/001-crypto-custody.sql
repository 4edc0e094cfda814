-- Crypto service custody tables. Key lifecycle is event-sourced (the spine's events table);
-- these hold what must stay mutable so that it can be destroyed (crypto-shredding), plus
-- the key read model kept in step with the events in the same transaction.

-- Per-vault key-encryption keys, wrapped by the root (envelope: format, root id, nonce,
-- ciphertext, tag; AAD = tenant, vault, kek id). One active KEK per vault.
CREATE TABLE IF NOT EXISTS ${schema}.vault_keks (
  kek_id      text        PRIMARY KEY,
  tenant      text        NOT NULL,
  vault       text        NOT NULL,
  root_id     text        NOT NULL,
  wrapped     bytea       NOT NULL,
  active      boolean     NOT NULL DEFAULT true,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS vault_keks_active_idx ON ${schema}.vault_keks (tenant, vault) WHERE active;

-- Per-object data keys (envelope encryption of secret values), wrapped by the vault KEK with
-- the object's identity as AAD. Destroying one (purge) nulls `wrapped`: the value it sealed
-- can no longer be decrypted from any copy of the event log.
CREATE TABLE IF NOT EXISTS ${schema}.data_keys (
  key_id        text        PRIMARY KEY,
  tenant        text        NOT NULL,
  vault         text        NOT NULL,
  collection    text        NOT NULL,
  name          text        NOT NULL,
  version       text        NOT NULL,
  kek_id        text        NOT NULL,
  wrapped       bytea,
  created_at    timestamptz NOT NULL DEFAULT now(),
  destroyed_at  timestamptz
);
CREATE INDEX IF NOT EXISTS data_keys_object_idx ON ${schema}.data_keys (tenant, vault, collection, name, version);

-- Key material: software keys as an envelope of the private JWK under the vault KEK (AAD =
-- tenant, vault, 'keys', name, version); HSM keys as the CKA_ID of the token objects.
CREATE TABLE IF NOT EXISTS ${schema}.key_material (
  material_id    text        PRIMARY KEY,
  tenant         text        NOT NULL,
  vault          text        NOT NULL,
  name           text        NOT NULL,
  version        text        NOT NULL,
  kek_id         text,
  wrapped        bytea,
  hsm_object_id  text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  destroyed_at   timestamptz
);
CREATE INDEX IF NOT EXISTS key_material_key_idx ON ${schema}.key_material (tenant, vault, name);

-- Read model of live key versions (rebuildable from the key events).
CREATE TABLE IF NOT EXISTS ${schema}.key_versions (
  tenant       text     NOT NULL,
  vault        text     NOT NULL,
  name         text     NOT NULL,
  version      text     NOT NULL,
  seq          bigint   NOT NULL,
  kty          text     NOT NULL,
  hsm          boolean  NOT NULL,
  size_bits    integer  NOT NULL,
  crv          text,
  key_ops      text[]   NOT NULL,
  enabled      boolean  NOT NULL,
  not_before   bigint,
  expires      bigint,
  exportable   boolean  NOT NULL,
  public_key   jsonb,
  material_id  text     NOT NULL,
  created      bigint   NOT NULL,
  updated      bigint   NOT NULL,
  PRIMARY KEY (tenant, vault, name, version)
);
CREATE INDEX IF NOT EXISTS key_versions_latest_idx ON ${schema}.key_versions (tenant, vault, name, seq DESC);
