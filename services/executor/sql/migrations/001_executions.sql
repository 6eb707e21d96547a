-- Executions and their step logs. The executor writes them; the config API reads them for
-- execution history (GET /api/workflows/{id}/executions, GET /api/executions/{id}).
--
-- An "error" column, when set, is a JSON object {"code", "message", ...}: "code" is stable and
-- machine-readable ("webhook_rejected", "retries_exhausted", "destination_refused", ...),
-- "message" is for people.

CREATE TABLE executions (
    id               text PRIMARY KEY,      -- execution id: derived from event id + workflow id + version
    tenant_id        text NOT NULL,
    workflow_id      text NOT NULL,
    workflow_version int NOT NULL,          -- the version that matched, and that ran
    trigger_type     text NOT NULL,         -- the workflow's trigger (an event type)
    event            jsonb NOT NULL,        -- the triggering event, a CloudEvent envelope
    status           text NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'succeeded', 'failed')),
    error            jsonb,                 -- when failed: the failed step's error, plus
                                            -- "step", "actionType", "attempts", "responseStatus"
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,           -- set with status succeeded or failed
    deadlettered_at  timestamptz            -- when failed: once executions.deadletter acknowledged it
);

CREATE INDEX executions_by_workflow ON executions (tenant_id, workflow_id, created_at);

CREATE TABLE execution_steps (
    execution_id    text NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_index      int NOT NULL CHECK (step_index >= 0),   -- position in the workflow's actions
    tenant_id       text NOT NULL,
    action_type     text NOT NULL,          -- the action's "type": webhook, slack, ...
    status          text NOT NULL CHECK (status IN ('succeeded', 'failed')),
    attempts        int NOT NULL CHECK (attempts >= 0),     -- 0: refused before anything was sent
    request         jsonb NOT NULL DEFAULT '{}',  -- what was sent, without secrets or headers;
                                                  -- webhook: {"method", "url", "webhookId"}
    response_status int,                    -- the last HTTP status received, if any
    error           jsonb,                  -- when failed: {"code", "message"}
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    PRIMARY KEY (execution_id, step_index)
);
