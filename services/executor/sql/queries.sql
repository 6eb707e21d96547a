-- The executor's queries on executions, execution_steps and destination_pauses. Every one names
-- the tenant. Times that order things (leases, admissions) are the database's clock, so that
-- replicas with different clocks agree.

-- name: insert_executions
-- New executions (one commit for all, inserted in id order: see renew_leases), each running and leased to its token for its seconds,
-- admitted at once when the workflow has no rate limit; or, when dropped, throttled at once (its
-- workflow's window is known to be full, throttleAction drop). The ids returned are the ones
-- inserted; the others were recorded already.
INSERT INTO executions (
    id, tenant_id, workflow_id, workflow_version, trigger_type, event, subject, requested_at,
    exit_conditions, admitted_at, status, finished_at, claimed_by, lease_until
)
SELECT new.id, new.tenant_id, new.workflow_id, new.workflow_version, new.trigger_type, new.event,
       new.subject, new.requested_at, new.exit_conditions,
       CASE WHEN new.unlimited THEN clock_timestamp() END,
       CASE WHEN new.dropped THEN 'throttled' ELSE 'running' END,
       CASE WHEN new.dropped THEN now() END,
       CASE WHEN new.dropped THEN NULL ELSE new.claimed_by END,
       CASE WHEN new.dropped THEN NULL
            ELSE clock_timestamp() + make_interval(secs => new.lease_seconds) END
FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::jsonb[], $7::text[],
    $8::timestamptz[], $9::jsonb[], $10::bool[], $11::bool[], $12::text[], $13::float8[]
) AS new (
    id, tenant_id, workflow_id, workflow_version, trigger_type, event, subject, requested_at,
    exit_conditions, unlimited, dropped, claimed_by, lease_seconds
)
ORDER BY new.id
ON CONFLICT (id) DO NOTHING
RETURNING id, status, admitted_at IS NOT NULL AS admitted, lease_until;

-- name: lock_execution
-- An existing execution, locked until the end of the transaction; any tenant (the caller
-- compares).
SELECT tenant_id, status, error, admitted_at IS NOT NULL AS admitted, claimed_by, lease_until,
       claimed_by IS NOT NULL AND lease_until > clock_timestamp() AS leased,
       wait_reason, resume_step, due_at, timer_id, deadlettered_at, notified_at
FROM executions
WHERE id = $1
FOR UPDATE;

-- name: step_progress
SELECT step_index, status, attempts
FROM execution_steps
WHERE execution_id = $1 AND tenant_id = $2;

-- name: claim_execution
UPDATE executions
SET claimed_by = $3, lease_until = clock_timestamp() + make_interval(secs => $4)
WHERE id = $1 AND tenant_id = $2
RETURNING lease_until;

-- name: renew_leases
-- The leases among $1 still held, extended; a token missing from the answer lost its lease.
-- Statements that lock many executions lock them in id order, so that they never deadlock.
WITH held AS (
    SELECT id FROM executions WHERE claimed_by = ANY($1::text[]) ORDER BY id FOR UPDATE
)
UPDATE executions
SET lease_until = clock_timestamp() + make_interval(secs => $2)
FROM held
WHERE executions.id = held.id AND executions.claimed_by = ANY($1::text[])
RETURNING executions.claimed_by;

-- name: release_lease
UPDATE executions
SET claimed_by = NULL, lease_until = NULL
WHERE id = $1 AND tenant_id = $2 AND claimed_by = $3;

-- name: admission_lock
-- Serializes the admissions of one workflow (whatever the replica); the clock after the lock.
SELECT clock_timestamp() AS now FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 0))) AS lock;

-- name: admission_state
SELECT admitted_at IS NOT NULL AS admitted, requested_at
FROM executions
WHERE id = $1 AND tenant_id = $2 AND claimed_by = $3
FOR UPDATE;

-- name: count_admitted
-- Admissions of the workflow since $3, counted up to $4 (the limit: more makes no difference).
SELECT count(*)
FROM (
    SELECT 1 FROM executions
    WHERE tenant_id = $1 AND workflow_id = $2 AND admitted_at > $3
    LIMIT $4
) AS window_;

-- name: count_queued_ahead
-- Throttled runs of the workflow queued before ($3, $4).
SELECT count(*)
FROM executions
WHERE tenant_id = $1 AND workflow_id = $2 AND status = 'waiting' AND wait_reason = 'queue'
  AND (requested_at, id) < ($3, $4);

-- name: window_admissions
-- The workflow's admissions since $3, oldest first, at most $4 (the limit).
SELECT admitted_at
FROM executions
WHERE tenant_id = $1 AND workflow_id = $2 AND admitted_at > $3
ORDER BY admitted_at
LIMIT $4;

-- name: admit_execution
-- The caller holds the row (admission_state).
UPDATE executions
SET admitted_at = $3, status = 'running', wait_reason = NULL, resume_step = NULL, due_at = NULL,
    timer_id = NULL
WHERE id = $1 AND tenant_id = $2;

-- name: park_execution
-- Waiting on a new timer (the id counts the parks); the lease is released.
UPDATE executions
SET status = 'waiting', wait_reason = $4, resume_step = $5, due_at = $6,
    timer_id = id || ':' || $4::text || ':' || $5::int || ':' || (parks + 1), parks = parks + 1,
    claimed_by = NULL, lease_until = NULL
WHERE id = $1 AND tenant_id = $2 AND claimed_by = $3
RETURNING timer_id;

-- name: resume_execution
UPDATE executions
SET status = 'running', wait_reason = NULL, resume_step = NULL, due_at = NULL, timer_id = NULL
WHERE id = $1 AND tenant_id = $2 AND claimed_by = $3 AND status = 'waiting'
RETURNING 1;

-- name: finish_delay_step
UPDATE execution_steps
SET status = 'succeeded', finished_at = now()
WHERE execution_id = $1 AND tenant_id = $2 AND step_index = $3 AND status = 'waiting';

-- name: record_step
-- Only while $13 holds the lease; a step done for good is never overwritten.
INSERT INTO execution_steps (
    execution_id, tenant_id, step_index, action_type, status, attempts, request,
    response_status, error, result, started_at, finished_at
)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12
WHERE EXISTS (
    SELECT 1 FROM executions WHERE id = $1 AND tenant_id = $2 AND claimed_by = $13 FOR SHARE
)
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
  AND execution_steps.status IN ('failed', 'waiting')
RETURNING 1;

-- name: record_last_steps_and_finish
-- The last step and the end of each execution (one commit for all), while its token holds the
-- lease, which is released; returns the ids ended.
WITH ending AS (
    SELECT *
    FROM unnest(
        $1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::int[], $7::jsonb[],
        $8::int[], $9::jsonb[], $10::jsonb[], $11::timestamptz[], $12::timestamptz[],
        $13::text[], $14::text[], $15::jsonb[]
    ) AS e (
        execution_id, tenant_id, step_index, action_type, status, attempts, request,
        response_status, error, result, started_at, finished_at, token, execution_status,
        execution_error
    )
),
held AS (
    SELECT ending.*
    FROM ending
    JOIN executions AS x
      ON x.id = ending.execution_id AND x.tenant_id = ending.tenant_id
     AND x.claimed_by = ending.token
    ORDER BY x.id
    FOR UPDATE OF x
),
step AS (
    INSERT INTO execution_steps (
        execution_id, tenant_id, step_index, action_type, status, attempts, request,
        response_status, error, result, started_at, finished_at
    )
    SELECT execution_id, tenant_id, step_index, action_type, status, attempts, request,
           response_status, error, result, started_at, finished_at
    FROM held
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
      AND execution_steps.status IN ('failed', 'waiting')
    RETURNING execution_id
)
UPDATE executions AS x
SET status = held.execution_status, error = held.execution_error, finished_at = now(),
    claimed_by = NULL, lease_until = NULL, wait_reason = NULL, resume_step = NULL, due_at = NULL,
    timer_id = NULL
FROM held
WHERE x.id = held.execution_id AND x.id IN (SELECT execution_id FROM step)
RETURNING x.id;

-- name: finish_execution
-- Only while $5 holds the lease, which is released.
UPDATE executions
SET status = $3, error = $4, finished_at = now(), claimed_by = NULL, lease_until = NULL,
    wait_reason = NULL, resume_step = NULL, due_at = NULL, timer_id = NULL
WHERE id = $1 AND tenant_id = $2 AND claimed_by = $5
RETURNING 1;

-- name: throttle_execution
-- Dropped by the rate limit (throttleAction: drop); the caller holds the row (admission_state).
UPDATE executions
SET status = 'throttled', finished_at = now(), claimed_by = NULL, lease_until = NULL,
    wait_reason = NULL, resume_step = NULL, due_at = NULL, timer_id = NULL
WHERE id = $1 AND tenant_id = $2;

-- name: throttle_held_execution
-- Dropped by the rate limit while $3 holds the lease (the window is known to be full).
UPDATE executions
SET status = 'throttled', finished_at = now(), claimed_by = NULL, lease_until = NULL,
    wait_reason = NULL, resume_step = NULL, due_at = NULL, timer_id = NULL
WHERE id = $1 AND tenant_id = $2 AND claimed_by = $3 AND admitted_at IS NULL
RETURNING 1;

-- name: queue_held_execution
-- Queued (waiting until $4) while $3 holds the lease and it is not admitted.
UPDATE executions
SET status = 'waiting', wait_reason = 'queue', resume_step = 0, due_at = $4,
    timer_id = id || ':queue:0:' || (parks + 1), parks = parks + 1,
    claimed_by = NULL, lease_until = NULL
WHERE id = $1 AND tenant_id = $2 AND claimed_by = $3 AND admitted_at IS NULL
RETURNING timer_id;

-- name: held_admission
-- Whether the execution $3 holds is admitted (no row: not held).
SELECT admitted_at IS NOT NULL FROM executions
WHERE id = $1 AND tenant_id = $2 AND claimed_by = $3;

-- name: abandon_execution
-- An execution that cannot run at all fails, whoever holds it.
UPDATE executions
SET status = 'failed', error = $3, finished_at = now(), claimed_by = NULL, lease_until = NULL,
    wait_reason = NULL, resume_step = NULL, due_at = NULL, timer_id = NULL
WHERE id = $1 AND tenant_id = $2
  AND status NOT IN ('succeeded', 'succeeded_with_errors', 'failed', 'throttled', 'exited')
RETURNING 1;

-- name: mark_dead_lettered
UPDATE executions
SET deadlettered_at = now()
WHERE id = $1 AND tenant_id = $2 AND status = 'failed';

-- name: mark_notified
UPDATE executions
SET notified_at = now()
WHERE id = $1 AND tenant_id = $2 AND notified_at IS NULL;

-- name: exitable_executions
-- Executions waiting on a delay or a queue, with exit conditions, of the given (tenant, subject)
-- pairs.
SELECT e.id, e.tenant_id, e.subject, e.event ->> 'id' AS trigger_event_id, e.created_at,
       e.exit_conditions
FROM executions AS e
JOIN unnest($1::text[], $2::text[]) AS wanted (tenant_id, subject)
  ON e.tenant_id = wanted.tenant_id AND e.subject = wanted.subject
WHERE e.status = 'waiting' AND e.exit_conditions IS NOT NULL
  AND e.wait_reason IN ('delay', 'queue');

-- name: exit_execution
UPDATE executions
SET status = 'exited', exited_by_event = $3, finished_at = now(), claimed_by = NULL,
    lease_until = NULL, wait_reason = NULL, resume_step = NULL, due_at = NULL, timer_id = NULL
WHERE id = $1 AND tenant_id = $2 AND status = 'waiting' AND wait_reason IN ('delay', 'queue')
RETURNING 1;

-- name: pause_destination
INSERT INTO destination_pauses (tenant_id, destination, paused_until)
VALUES ($1, $2, $3)
ON CONFLICT (tenant_id, destination) DO UPDATE
SET paused_until = GREATEST(destination_pauses.paused_until, EXCLUDED.paused_until);

-- name: destination_paused_until
SELECT paused_until FROM destination_pauses WHERE tenant_id = $1 AND destination = $2;

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

-- Execution retention (EXECUTOR_EXECUTION_RETENTION_DAYS): finished executions and their step
-- logs older than the window go, a small batch per transaction. Only finished statuses are in
-- the executions_finished index (migration 008): running and waiting ones are never taken.
-- Rows another replica's batch holds are skipped, so replicas purging at once never wait.

-- name: lock_expired_executions
-- $1: the retention in days, against the database's clock; $2: the batch size.
SELECT id FROM executions
WHERE status IN ('succeeded', 'succeeded_with_errors', 'failed', 'throttled', 'exited')
  AND finished_at < now() - make_interval(days => $1)
ORDER BY finished_at
LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: delete_execution_steps
DELETE FROM execution_steps WHERE execution_id = ANY($1::text[]);

-- name: delete_executions
DELETE FROM executions WHERE id = ANY($1::text[]);
