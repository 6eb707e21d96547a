-- name: insert_workflow
INSERT INTO workflows (id, tenant_id, version, name, trigger, status, definition, created_by)
VALUES ($1, $2, 1, $3, $4, $5, $6, $7)
RETURNING *;

-- name: insert_version
INSERT INTO workflow_versions (workflow_id, version, tenant_id, definition, created_by)
VALUES ($1, $2, $3, $4, $5);

-- name: insert_outbox
INSERT INTO outbox (topic, key, value) VALUES ($1, $2, $3);

-- name: get_workflow
SELECT * FROM workflows WHERE tenant_id = $1 AND id = $2;

-- name: list_workflows
-- $2/$3 filter by status/trigger when not null; keyset pagination on (created_at, id).
SELECT * FROM workflows
WHERE tenant_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR trigger = $3)
  AND ($4::timestamptz IS NULL OR (created_at, id) > ($4, $5))
ORDER BY created_at, id
LIMIT $6;

-- name: lock_outbox_relay
SELECT pg_try_advisory_xact_lock($1);

-- name: claim_outbox
SELECT id, topic, key, value FROM outbox ORDER BY id LIMIT $1;

-- name: delete_outbox
DELETE FROM outbox WHERE id = ANY($1::bigint[]);

-- name: republish_all_workflows
-- Queue every workflow's current version for the changelog (a new or emptied topic).
INSERT INTO outbox (topic, key, value)
SELECT $1, w.tenant_id || '/' || w.id,
       jsonb_build_object('tenant_id', w.tenant_id, 'workflow_id', w.id, 'version', w.version,
                          'workflow', w.definition, 'changed_at', w.updated_at)
FROM workflows w
ORDER BY w.tenant_id, w.id;
