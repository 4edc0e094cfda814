-- The version a rotation policy's Notify action last fired for (KeyNearExpiry: once per version).
ALTER TABLE ${schema}.keys ADD COLUMN IF NOT EXISTS near_expiry_notified text;
