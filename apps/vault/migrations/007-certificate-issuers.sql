-- Certificate issuers and contacts (vault-level certificate settings) and each tenant's
-- built-in issuing CA. Plain tables, not event-sourced: each write commits with its request's
-- audit record in one transaction (the audit ledger keeps the history). Issuer passwords are
-- stored only as AES-256-GCM envelopes under a data key from the crypto service (as secret
-- values are); the CA's private key never leaves the PKCS#11 token.

CREATE TABLE IF NOT EXISTS ${schema}.certificate_issuers (
  vault_id         uuid    NOT NULL,
  name_key         text    NOT NULL,
  name             text    NOT NULL,
  provider         text    NOT NULL,
  account_id       text,
  -- base64 envelope of the password, its data key id and the key's object version (keyRef)
  password_sealed  text,
  password_key_id  text,
  password_key_ref text,
  -- null: no org_details; else {"id": …|null, "admin_details": [...]}
  org_details      jsonb,
  enabled          boolean NOT NULL,
  created          bigint  NOT NULL,
  updated          bigint  NOT NULL,
  PRIMARY KEY (vault_id, name_key)
);

CREATE TABLE IF NOT EXISTS ${schema}.certificate_contacts (
  vault_id uuid   PRIMARY KEY,
  contacts jsonb  NOT NULL,
  updated  bigint NOT NULL
);

-- One issuing CA per tenant: the crypto service key (RSA-HSM) and the self-signed certificate.
CREATE TABLE IF NOT EXISTS ${schema}.issuing_cas (
  tenant_id   text   PRIMARY KEY,
  key_vault   text   NOT NULL,
  key_name    text   NOT NULL,
  key_version text   NOT NULL,
  certificate bytea  NOT NULL,
  created     bigint NOT NULL
);
