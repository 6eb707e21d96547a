-- name: authenticate
SELECT id, tenant_id, role FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL;

-- name: upsert_tenant
INSERT INTO tenants (id, name) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;

-- name: insert_api_key
INSERT INTO api_keys (key_hash, key_prefix, tenant_id, role, label) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (key_hash) DO NOTHING
RETURNING id;
