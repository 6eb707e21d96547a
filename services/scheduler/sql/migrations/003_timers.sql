-- Durable timers: executions parked by the executor (executions.deferred), one per timer_id,
-- published back to executions.requested when due and then deleted. `request` is the JSON of
-- the ExecutionRequest exactly as it is published.
CREATE TABLE IF NOT EXISTS timers (
    timer_id      text PRIMARY KEY,
    due_at        timestamptz NOT NULL,
    tenant_id     text NOT NULL,
    workflow_id   text NOT NULL,
    execution_id  text NOT NULL,
    reason        text NOT NULL,
    step          integer NOT NULL,
    request       text NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS timers_due_at ON timers (due_at);
