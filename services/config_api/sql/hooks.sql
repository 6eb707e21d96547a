-- Inbound hooks of webhook.received workflows (table workflow_hooks, migration 005). Every
-- query names the tenant.

-- name: get_hook
SELECT workflow_id, token_prefix, created_at, rotated_at
FROM workflow_hooks WHERE tenant_id = $1 AND workflow_id = $2;

-- name: upsert_hook
-- The workflow's one token: a new hook, or the replacement of its token (the old digest is gone).
INSERT INTO workflow_hooks (workflow_id, tenant_id, token_hash, token_prefix, rotated_by)
VALUES ($2, $1, $3, $4, $5)
ON CONFLICT (workflow_id) DO UPDATE
SET token_hash = EXCLUDED.token_hash, token_prefix = EXCLUDED.token_prefix,
    rotated_at = now(), rotated_by = EXCLUDED.rotated_by
WHERE workflow_hooks.tenant_id = $1
RETURNING workflow_id, token_prefix, created_at, rotated_at;
