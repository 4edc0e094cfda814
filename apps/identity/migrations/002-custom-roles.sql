-- Custom role definitions (built-in roles are code: libs/auth roles.catalog).
CREATE TABLE IF NOT EXISTS ${schema}.role_definitions (
  id          uuid PRIMARY KEY,
  role_name   text NOT NULL UNIQUE,
  definition  jsonb NOT NULL,
  created_at  timestamptz NOT NULL
);
