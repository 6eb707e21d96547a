-- The executor's queries on executions and execution_steps. Every one names the tenant.

-- name: open_execution
-- Insert the execution as running unless it exists; either way return its row. No row means the
-- id is taken by another tenant. (The outer SELECT cannot see the CTE's insert: the two halves
-- are mutually exclusive.)
WITH inserted AS (
    INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, trigger_type, event)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (id) DO NOTHING
    RETURNING status, error, deadlettered_at
)
SELECT status, error, deadlettered_at FROM inserted
UNION ALL
SELECT status, error, deadlettered_at FROM executions WHERE id = $1 AND tenant_id = $2
LIMIT 1;

-- name: done_steps
SELECT step_index
FROM execution_steps
WHERE execution_id = $1 AND tenant_id = $2 AND status IN ('succeeded', 'skipped');

-- name: record_step
INSERT INTO execution_steps (
    execution_id, tenant_id, step_index, action_type, status, attempts, request,
    response_status, error, started_at, finished_at, result
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (execution_id, step_index) DO UPDATE SET
    action_type = EXCLUDED.action_type,
    status = EXCLUDED.status,
    attempts = EXCLUDED.attempts,
    request = EXCLUDED.request,
    response_status = EXCLUDED.response_status,
    error = EXCLUDED.error,
    result = EXCLUDED.result,
    started_at = EXCLUDED.started_at,
    finished_at = EXCLUDED.finished_at
WHERE execution_steps.tenant_id = EXCLUDED.tenant_id
  AND execution_steps.status NOT IN ('succeeded', 'skipped');

-- name: finish_execution
UPDATE executions
SET status = $3, error = $4, finished_at = now()
WHERE id = $1 AND tenant_id = $2 AND status = 'running';

-- name: mark_dead_lettered
UPDATE executions
SET deadlettered_at = now()
WHERE id = $1 AND tenant_id = $2 AND status = 'failed';

-- The product's own records (migration 004). Each INSERT is idempotent on its derived id: a
-- redelivered step writes nothing and gets the stored row back.

-- name: insert_task
WITH inserted AS (
    INSERT INTO tasks (
        id, tenant_id, workflow_id, execution_id, step_index, item_index, subject, title,
        description, assignee, assign_to, due_date, priority, project
    )
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    ON CONFLICT (id) DO NOTHING
    RETURNING id, assignee, due_date
)
SELECT id, assignee, due_date FROM inserted
UNION ALL
SELECT id, assignee, due_date FROM tasks WHERE id = $1 AND tenant_id = $2
LIMIT 1;

-- name: insert_activity
INSERT INTO activities (
    id, tenant_id, workflow_id, execution_id, step_index, subject, activity_type, title, body
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO NOTHING;

-- name: insert_notification
INSERT INTO notifications (
    id, tenant_id, workflow_id, execution_id, step_index, item_index, subject, recipient, title,
    message
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (id) DO NOTHING;

-- name: insert_draft_offer
INSERT INTO draft_offers (
    id, tenant_id, workflow_id, execution_id, step_index, subject, based_on, source_id, name,
    customer_name, product_name, duration_months, discount_percent, base_value, value
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (id) DO NOTHING;

-- name: insert_assignment
INSERT INTO assignments (
    id, tenant_id, workflow_id, execution_id, step_index, subject, assignee, assign_to
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO NOTHING;

-- name: insert_tag
-- Returns the tag's row: inserted now, or as the first workflow that tagged it left it.
WITH inserted AS (
    INSERT INTO tags (id, tenant_id, subject, tag, workflow_id, execution_id, step_index)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (tenant_id, subject, tag) DO NOTHING
    RETURNING id, execution_id, step_index
)
SELECT id, execution_id, step_index FROM inserted
UNION ALL
SELECT id, execution_id, step_index FROM tags WHERE tenant_id = $2 AND subject = $3 AND tag = $4
LIMIT 1;

-- name: ensure_record
-- The record exists from now on (with no fields if it is new); $5: created by this step.
INSERT INTO records (id, tenant_id, record_type, record_key, fields)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO NOTHING;

-- name: insert_record_change
-- One row per step; no row back means this step's change was applied before (a redelivery).
INSERT INTO record_changes (execution_id, step_index, tenant_id, workflow_id, record_id, change, fields)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (execution_id, step_index) DO NOTHING
RETURNING change;

-- name: apply_record_change
UPDATE records SET fields = fields || $3, updated_at = now()
WHERE id = $1 AND tenant_id = $2;

-- name: email_template
-- Through the config API's published view (services/config_api/sql/migrations/003_...).
SELECT subject, text_body, html_body
FROM config_api_published.email_templates
WHERE tenant_id = $1 AND name = $2;
