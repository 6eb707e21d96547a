-- name: insert_workflow
INSERT INTO workflows (id, tenant_id, version, name, trigger, status, definition, created_by)
VALUES ($1, $2, 1, $3, $4, $5, $6, $7)
RETURNING *;

-- name: insert_version
-- $6: created | updated | restored | deleted; $7: the restored version, for a restore.
INSERT INTO workflow_versions (
    workflow_id, version, tenant_id, definition, created_by, change, restored_from
)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING created_at;

-- name: insert_outbox
INSERT INTO outbox (topic, key, value) VALUES ($1, $2, $3);

-- name: get_workflow
SELECT * FROM workflows WHERE tenant_id = $1 AND id = $2;

-- name: lock_workflow
-- Serializes changes to one workflow: versions, and their outbox rows, follow one another.
SELECT * FROM workflows WHERE tenant_id = $1 AND id = $2 FOR UPDATE;

-- name: update_workflow
UPDATE workflows
SET version = $3, name = $4, trigger = $5, status = $6, definition = $7, updated_at = now()
WHERE tenant_id = $1 AND id = $2
RETURNING *;

-- name: delete_workflow
-- Its versions stay: executions point at them, and version history still shows them.
DELETE FROM workflows WHERE tenant_id = $1 AND id = $2;

-- name: workflow_known
SELECT EXISTS (SELECT 1 FROM workflow_versions WHERE tenant_id = $1 AND workflow_id = $2);

-- name: list_versions
-- Newest first; $3, when not null, is the version the previous page ended at.
SELECT * FROM workflow_versions
WHERE tenant_id = $1 AND workflow_id = $2 AND ($3::int IS NULL OR version < $3)
ORDER BY version DESC
LIMIT $4;

-- name: get_version
SELECT * FROM workflow_versions WHERE tenant_id = $1 AND workflow_id = $2 AND version = $3;

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
-- Rows a save is publishing itself are locked by it (lock_pending_changes): skipped here.
SELECT id, topic, key, value FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED;

-- name: lock_pending_changes
-- Every pending row of one key, oldest first, waiting for a relay that holds one of them: a
-- save publishes them in order after its commit, so one workflow's records keep their order.
SELECT id, topic, key, value FROM outbox WHERE key = $1 ORDER BY id FOR UPDATE;

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

-- name: insert_audit
INSERT INTO audit_log (tenant_id, actor, action, resource_type, resource_id, before, after)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: list_audit
-- Newest first; $4, when not null, is the id the previous page ended at.
SELECT * FROM audit_log
WHERE tenant_id = $1
  AND ($2::text IS NULL OR resource_type = $2)
  AND ($3::text IS NULL OR resource_id = $3)
  AND ($4::bigint IS NULL OR id < $4)
ORDER BY id DESC
LIMIT $5;

-- name: insert_template
INSERT INTO email_templates (id, tenant_id, name, subject, body, created_by)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: insert_template_unless_named
-- Installing the examples: a tenant's own template of the same name wins.
INSERT INTO email_templates (id, tenant_id, name, subject, body, created_by)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant_id, name) DO NOTHING
RETURNING *;

-- name: get_template
SELECT * FROM email_templates WHERE tenant_id = $1 AND id = $2;

-- name: lock_template
SELECT * FROM email_templates WHERE tenant_id = $1 AND id = $2 FOR UPDATE;

-- name: list_templates
SELECT * FROM email_templates
WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
ORDER BY created_at, id
LIMIT $4;

-- name: update_template
UPDATE email_templates SET name = $3, subject = $4, body = $5, updated_at = now()
WHERE tenant_id = $1 AND id = $2
RETURNING *;

-- name: delete_template
DELETE FROM email_templates WHERE tenant_id = $1 AND id = $2 RETURNING *;

-- Execution history: a read-only view of the executor's tables (executions, execution_steps;
-- owned by services/executor/sql/migrations/001_executions.sql). The config API never writes
-- them. Until the executor has created them they do not exist, and history is empty.

-- name: list_executions
-- Newest first; ($4, $5), when not null, is where the previous page ended.
SELECT id, workflow_id, workflow_version, trigger_type, event, status, error, created_at,
       finished_at, deadlettered_at
FROM executions
WHERE tenant_id = $1 AND workflow_id = $2
  AND ($3::text IS NULL OR status = $3)
  AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
ORDER BY created_at DESC, id DESC
LIMIT $6;

-- name: get_execution
SELECT id, workflow_id, workflow_version, trigger_type, event, status, error, created_at,
       finished_at, deadlettered_at
FROM executions
WHERE tenant_id = $1 AND id = $2;

-- name: list_execution_steps
SELECT step_index, action_type, status, attempts, request, response_status, error, started_at,
       finished_at
FROM execution_steps
WHERE tenant_id = $1 AND execution_id = $2
ORDER BY step_index;
