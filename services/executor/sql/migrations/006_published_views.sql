-- The executor's published contract: the views in schema executor_published are what other
-- services may read of the executor's tables (the config API serves execution history and the
-- product's records from them). Nobody else reads the tables themselves. Each view keeps its
-- columns' names and meanings; a change that would break a reader is a new view, and columns are
-- only ever added at the end (CREATE OR REPLACE VIEW allows nothing else).
--
-- Every view carries tenant_id, and every reader filters by it.

CREATE SCHEMA IF NOT EXISTS executor_published;

-- One row per execution. status: the execution's status (SPEC §5); error: when it failed,
-- {"code", "message", "step", "actionType", "attempts", "responseStatus"}.
CREATE OR REPLACE VIEW executor_published.executions AS
SELECT id, tenant_id, workflow_id, workflow_version, trigger_type, event, status, error,
       created_at, finished_at, deadlettered_at
FROM executions;

-- One row per step performed (or skipped). request: what was sent, without secrets; result: what
-- the step produced (a record id, an answer excerpt); error: {"code", "message"} when failed.
CREATE OR REPLACE VIEW executor_published.execution_steps AS
SELECT execution_id, step_index, tenant_id, action_type, status, attempts, request,
       response_status, error, started_at, finished_at, result
FROM execution_steps;

CREATE OR REPLACE VIEW executor_published.tasks AS
SELECT id, tenant_id, workflow_id, execution_id, step_index, item_index, subject, title,
       description, assignee, assign_to, due_date, priority, project, status, created_at
FROM tasks;

CREATE OR REPLACE VIEW executor_published.activities AS
SELECT id, tenant_id, workflow_id, execution_id, step_index, subject, activity_type, title, body,
       created_at
FROM activities;

CREATE OR REPLACE VIEW executor_published.notifications AS
SELECT id, tenant_id, workflow_id, execution_id, step_index, item_index, subject, recipient,
       title, message, read_at, created_at
FROM notifications;

CREATE OR REPLACE VIEW executor_published.draft_offers AS
SELECT id, tenant_id, workflow_id, execution_id, step_index, subject, based_on, source_id, name,
       customer_name, product_name, duration_months, discount_percent, base_value, value, status,
       created_at
FROM draft_offers;

CREATE OR REPLACE VIEW executor_published.assignments AS
SELECT id, tenant_id, workflow_id, execution_id, step_index, subject, assignee, assign_to,
       created_at
FROM assignments;

CREATE OR REPLACE VIEW executor_published.tags AS
SELECT id, tenant_id, subject, tag, workflow_id, execution_id, step_index, created_at
FROM tags;

-- A record with the execution that last changed it.
CREATE OR REPLACE VIEW executor_published.records AS
SELECT r.id, r.tenant_id, r.record_type, r.record_key, r.fields, r.created_at, r.updated_at,
       last_change.execution_id AS last_execution_id, last_change.workflow_id AS last_workflow_id
FROM records r
LEFT JOIN LATERAL (
    SELECT c.execution_id, c.workflow_id
    FROM record_changes c
    WHERE c.record_id = r.id
    ORDER BY c.changed_at DESC, c.execution_id DESC
    LIMIT 1
) last_change ON true;
