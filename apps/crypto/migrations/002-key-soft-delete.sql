-- Soft delete of keys: a deleted key keeps its versions (and material) until it is recovered
-- or purged; live lookups skip it. Unix seconds of the deletion, NULL while live.
ALTER TABLE ${schema}.key_versions ADD COLUMN IF NOT EXISTS deleted_at bigint;
