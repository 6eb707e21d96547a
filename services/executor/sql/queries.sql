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
    response_status, error, started_at, finished_at
)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (execution_id, step_index) DO UPDATE SET
    action_type = EXCLUDED.action_type,
    status = EXCLUDED.status,
    attempts = EXCLUDED.attempts,
    request = EXCLUDED.request,
    response_status = EXCLUDED.response_status,
    error = EXCLUDED.error,
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
