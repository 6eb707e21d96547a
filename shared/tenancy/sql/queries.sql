-- name: authenticate
SELECT id, tenant_id, role FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL;

-- name: upsert_tenant
INSERT INTO tenants (id, name) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;

-- name: insert_api_key
INSERT INTO api_keys (key_hash, key_prefix, tenant_id, role, label) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (key_hash) DO NOTHING
RETURNING id;

-- name: get_tenant
SELECT id, name, timezone, created_at FROM tenants WHERE id = $1;

-- name: update_tenant
UPDATE tenants SET name = coalesce($2, name), timezone = coalesce($3, timezone) WHERE id = $1
RETURNING id, name, timezone, created_at;

-- name: tenant_timezones
-- Through the published view (tenant_settings), as every reader outside the config API does.
SELECT tenant_id, timezone FROM tenant_settings;

-- name: tenant_timezone
SELECT timezone FROM tenant_settings WHERE tenant_id = $1;

-- name: get_api_key
SELECT id, tenant_id, key_prefix, role, label, created_at, revoked_at FROM api_keys WHERE id = $1;

-- name: list_api_keys
SELECT id, tenant_id, key_prefix, role, label, created_at, revoked_at
FROM api_keys WHERE tenant_id = $1 ORDER BY id;

-- name: revoke_api_key
-- Idempotent: a key revoked before keeps its first revocation time.
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
RETURNING id, tenant_id, key_prefix, role, label, created_at, revoked_at;

-- name: upsert_inbound_secret
INSERT INTO inbound_secrets (tenant_id, source, secret) VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, source) DO UPDATE SET secret = EXCLUDED.secret, updated_at = now()
RETURNING source, created_at, updated_at;

-- name: inbound_secret_statuses
-- Never selects the secret itself: this feeds what the config API shows.
SELECT source, created_at, updated_at FROM inbound_secrets WHERE tenant_id = $1 ORDER BY source;

-- name: get_inbound_secret
SELECT secret FROM inbound_secrets WHERE tenant_id = $1 AND source = $2;

-- name: delete_inbound_secret
DELETE FROM inbound_secrets WHERE tenant_id = $1 AND source = $2 RETURNING source;
