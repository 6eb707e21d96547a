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

-- name: chain_graph
-- The tenant's active workflows that can take part in a chain: triggered by workflow.triggered,
-- or triggering others; with the workflow ids their trigger_workflow actions name.
SELECT w.id, w.trigger,
       COALESCE(
           (SELECT array_agg(a->>'workflowId')
            FROM jsonb_array_elements(w.definition->'actions') a
            WHERE a->>'type' = 'trigger_workflow'),
           '{}'
       ) AS targets
FROM workflows w
WHERE w.tenant_id = $1 AND w.status = 'active'
  AND (w.trigger = 'workflow.triggered'
       OR w.definition->'actions' @> '[{"type": "trigger_workflow"}]');

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
INSERT INTO email_templates (id, tenant_id, name, subject, body, html_body, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: insert_template_unless_named
-- Installing the examples: a tenant's own template of the same name wins.
INSERT INTO email_templates (id, tenant_id, name, subject, body, html_body, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
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
UPDATE email_templates SET name = $3, subject = $4, body = $5, html_body = $6, updated_at = now()
WHERE tenant_id = $1 AND id = $2
RETURNING *;

-- name: delete_template
DELETE FROM email_templates WHERE tenant_id = $1 AND id = $2 RETURNING *;

-- Execution history, read-only, through the views the executor publishes (executor_published;
-- services/executor/sql/migrations/006_published_views.sql). The config API never reads the
-- executor's tables. Until the executor has migrated the views do not exist: the API answers 503.

-- name: list_executions
-- Newest first; ($4, $5), when not null, is where the previous page ended.
SELECT id, workflow_id, workflow_version, trigger_type, event, status, error, created_at,
       finished_at, deadlettered_at, exited_by_event, notified_at
FROM executor_published.executions
WHERE tenant_id = $1 AND workflow_id = $2
  AND ($3::text IS NULL OR status = $3)
  AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
ORDER BY created_at DESC, id DESC
LIMIT $6;

-- name: get_execution
SELECT id, workflow_id, workflow_version, trigger_type, event, status, error, created_at,
       finished_at, deadlettered_at, exited_by_event, notified_at
FROM executor_published.executions
WHERE tenant_id = $1 AND id = $2;

-- name: list_execution_steps
SELECT step_index, action_type, status, attempts, request, response_status, error, started_at,
       finished_at, result
FROM executor_published.execution_steps
WHERE tenant_id = $1 AND execution_id = $2
ORDER BY step_index;

-- Run now, the runs page and the stats strip (seed 003). Manual runs are execution requests the
-- config API queues in its outbox; the rest reads executor_published, with the workflow names
-- from this service's own tables. The executor's indexes behind them: its migration 008.

-- name: share_workflow
-- A run is requested at the current version: a save of the workflow waits for the run's commit.
SELECT * FROM workflows WHERE tenant_id = $1 AND id = $2 FOR SHARE;

-- name: list_runs
-- The tenant's executions across workflows, newest first. $2-$6 filter when not null (status,
-- workflow, trigger, started at or after, started before); ($7, $8), when not null, is where the
-- previous page ended. The name is the workflow's current one, or the version's that ran once the
-- workflow is deleted; first_error is the first failed step's error, else the execution's.
SELECT e.id, e.workflow_id, e.workflow_version, e.trigger_type, e.event ->> 'type' AS event_type,
       e.status, e.created_at, e.finished_at,
       COALESCE(w.name, v.definition ->> 'name') AS workflow_name,
       COALESCE(first_failed.error, e.error) AS first_error
FROM executor_published.executions e
LEFT JOIN workflows w ON w.id = e.workflow_id AND w.tenant_id = e.tenant_id
LEFT JOIN workflow_versions v
       ON v.workflow_id = e.workflow_id AND v.version = e.workflow_version
      AND v.tenant_id = e.tenant_id
LEFT JOIN LATERAL (
    SELECT s.error || jsonb_build_object('step', s.step_index, 'actionType', s.action_type)
           AS error
    FROM executor_published.execution_steps s
    WHERE e.error IS NOT NULL AND s.execution_id = e.id AND s.tenant_id = e.tenant_id
      AND s.status = 'failed' AND s.error IS NOT NULL
    ORDER BY s.step_index
    LIMIT 1
) first_failed ON true
WHERE e.tenant_id = $1
  AND ($2::text IS NULL OR e.status = $2)
  AND ($3::text IS NULL OR e.workflow_id = $3)
  AND ($4::text IS NULL OR e.trigger_type = $4)
  AND ($5::timestamptz IS NULL OR e.created_at >= $5)
  AND ($6::timestamptz IS NULL OR e.created_at < $6)
  AND ($7::timestamptz IS NULL OR (e.created_at, e.id) < ($7, $8))
ORDER BY e.created_at DESC, e.id DESC
LIMIT $9;

-- name: workflow_stats
-- A workflow's runs started in [$3, $4): one index-only range scan of executions_by_workflow_time
-- (it carries status and finished_at). Durations are of the runs that performed their steps to
-- an end (succeeded, succeeded_with_errors, failed), from start to finish, in milliseconds.
SELECT count(*) FILTER (WHERE status = 'running') AS running,
       count(*) FILTER (WHERE status = 'waiting') AS waiting,
       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status = 'succeeded_with_errors') AS succeeded_with_errors,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'throttled') AS throttled,
       count(*) FILTER (WHERE status = 'exited') AS exited,
       percentile_cont(ARRAY[0.5, 0.95]::float8[]) WITHIN GROUP (
           ORDER BY (extract(epoch FROM finished_at - created_at) * 1000)::float8
       ) FILTER (WHERE status IN ('succeeded', 'succeeded_with_errors', 'failed')) AS durations
FROM executor_published.executions
WHERE tenant_id = $1 AND workflow_id = $2 AND created_at >= $3 AND created_at < $4;

-- name: last_run
SELECT id, status, created_at, finished_at
FROM executor_published.executions
WHERE tenant_id = $1 AND workflow_id = $2
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- The product's records, read-only, through the views the executor publishes
-- (services/executor/sql/migrations/006_published_views.sql). Lists are newest first; each
-- filter applies when its parameter is not null; ($n, $n+1), when not null, is where the
-- previous page ended. Until the executor has migrated, the views do not exist and these
-- queries fail with undefined_table (the API answers 503).

-- name: list_tasks
SELECT id, workflow_id, execution_id, step_index, item_index, subject, title, description,
       assignee, assign_to, due_date, priority, project, status, created_at
FROM executor_published.tasks
WHERE tenant_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR assignee = $3)
  AND ($4::text IS NULL OR priority = $4)
  AND ($5::text IS NULL OR subject = $5)
  AND ($6::text IS NULL OR workflow_id = $6)
  AND ($7::text IS NULL OR execution_id = $7)
  AND ($8::timestamptz IS NULL OR (created_at, id) < ($8, $9))
ORDER BY created_at DESC, id DESC
LIMIT $10;

-- name: get_task
SELECT id, workflow_id, execution_id, step_index, item_index, subject, title, description,
       assignee, assign_to, due_date, priority, project, status, created_at
FROM executor_published.tasks
WHERE tenant_id = $1 AND id = $2;

-- name: list_activities
SELECT id, workflow_id, execution_id, step_index, subject, activity_type, title, body,
       created_at
FROM executor_published.activities
WHERE tenant_id = $1
  AND ($2::text IS NULL OR subject = $2)
  AND ($3::text IS NULL OR activity_type = $3)
  AND ($4::text IS NULL OR workflow_id = $4)
  AND ($5::text IS NULL OR execution_id = $5)
  AND ($6::timestamptz IS NULL OR (created_at, id) < ($6, $7))
ORDER BY created_at DESC, id DESC
LIMIT $8;

-- name: get_activity
SELECT id, workflow_id, execution_id, step_index, subject, activity_type, title, body,
       created_at
FROM executor_published.activities
WHERE tenant_id = $1 AND id = $2;

-- name: list_notifications
SELECT id, workflow_id, execution_id, step_index, item_index, subject, recipient, title,
       message, read_at, created_at
FROM executor_published.notifications
WHERE tenant_id = $1
  AND ($2::text IS NULL OR recipient = $2)
  AND ($3::text IS NULL OR subject = $3)
  AND ($4::text IS NULL OR workflow_id = $4)
  AND ($5::text IS NULL OR execution_id = $5)
  AND ($6::timestamptz IS NULL OR (created_at, id) < ($6, $7))
ORDER BY created_at DESC, id DESC
LIMIT $8;

-- name: get_notification
SELECT id, workflow_id, execution_id, step_index, item_index, subject, recipient, title,
       message, read_at, created_at
FROM executor_published.notifications
WHERE tenant_id = $1 AND id = $2;

-- name: list_draft_offers
SELECT id, workflow_id, execution_id, step_index, subject, based_on, source_id, name,
       customer_name, product_name, duration_months, discount_percent, base_value, value,
       status, created_at
FROM executor_published.draft_offers
WHERE tenant_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR subject = $3)
  AND ($4::text IS NULL OR workflow_id = $4)
  AND ($5::text IS NULL OR execution_id = $5)
  AND ($6::timestamptz IS NULL OR (created_at, id) < ($6, $7))
ORDER BY created_at DESC, id DESC
LIMIT $8;

-- name: get_draft_offer
SELECT id, workflow_id, execution_id, step_index, subject, based_on, source_id, name,
       customer_name, product_name, duration_months, discount_percent, base_value, value,
       status, created_at
FROM executor_published.draft_offers
WHERE tenant_id = $1 AND id = $2;

-- name: list_assignments
SELECT id, workflow_id, execution_id, step_index, subject, assignee, assign_to, created_at
FROM executor_published.assignments
WHERE tenant_id = $1
  AND ($2::text IS NULL OR subject = $2)
  AND ($3::text IS NULL OR assignee = $3)
  AND ($4::text IS NULL OR workflow_id = $4)
  AND ($5::text IS NULL OR execution_id = $5)
  AND ($6::timestamptz IS NULL OR (created_at, id) < ($6, $7))
ORDER BY created_at DESC, id DESC
LIMIT $8;

-- name: get_assignment
SELECT id, workflow_id, execution_id, step_index, subject, assignee, assign_to, created_at
FROM executor_published.assignments
WHERE tenant_id = $1 AND id = $2;

-- name: list_tags
SELECT id, subject, tag, workflow_id, execution_id, step_index, created_at
FROM executor_published.tags
WHERE tenant_id = $1
  AND ($2::text IS NULL OR subject = $2)
  AND ($3::text IS NULL OR tag = $3)
  AND ($4::text IS NULL OR workflow_id = $4)
  AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6))
ORDER BY created_at DESC, id DESC
LIMIT $7;

-- name: get_tag
SELECT id, subject, tag, workflow_id, execution_id, step_index, created_at
FROM executor_published.tags
WHERE tenant_id = $1 AND id = $2;

-- name: list_records
SELECT id, record_type, record_key, fields, created_at, updated_at, last_execution_id,
       last_workflow_id
FROM executor_published.records
WHERE tenant_id = $1
  AND ($2::text IS NULL OR record_type = $2)
  AND ($3::text IS NULL OR record_key = $3)
  AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))
ORDER BY created_at DESC, id DESC
LIMIT $6;

-- name: get_record
SELECT id, record_type, record_key, fields, created_at, updated_at, last_execution_id,
       last_workflow_id
FROM executor_published.records
WHERE tenant_id = $1 AND id = $2;
