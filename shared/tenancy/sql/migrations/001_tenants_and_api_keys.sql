-- Tenants and their API keys. Keys are stored as SHA-256 digests only: a key is 32 random
-- bytes, so a fast hash is as strong as a slow one, and lookups stay one index probe.
CREATE TABLE IF NOT EXISTS tenants (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_hash    bytea NOT NULL UNIQUE,
    key_prefix  text NOT NULL,
    tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('read-only', 'read-write')),
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant_id);
