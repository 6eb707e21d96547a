-- The whole execution lifecycle of SPEC §5: waiting in durable timers, rate-limit admissions,
-- leases, exit conditions, failure notifications, and the step results.

ALTER TABLE executions DROP CONSTRAINT IF EXISTS executions_status_check;
ALTER TABLE executions ADD CONSTRAINT executions_status_check CHECK (
    status IN ('running', 'waiting', 'succeeded', 'succeeded_with_errors', 'failed', 'throttled',
               'exited'));

ALTER TABLE executions
    -- the event's subject (the account it is about): where exit conditions look
    ADD COLUMN subject text,
    -- when the request was made (the matcher's clock): a queued run's place in its queue
    ADD COLUMN requested_at timestamptz,
    -- when the execution was counted against its workflow's rate limit (maxExecutionsPerHour
    -- counts these in the rolling hour); set at once for workflows without a limit; never for a
    -- throttled one
    ADD COLUMN admitted_at timestamptz,
    -- the workflow's exitConditions (seed 001), while they can still end the execution
    ADD COLUMN exit_conditions jsonb,
    -- while waiting: why, the step it resumes at, when, and the durable timer it waits on
    ADD COLUMN wait_reason text CHECK (wait_reason IN ('delay', 'queue', 'retry')),
    ADD COLUMN resume_step int,
    ADD COLUMN due_at timestamptz,
    ADD COLUMN timer_id text,
    ADD COLUMN parks int NOT NULL DEFAULT 0,          -- how many times it parked (timer ids)
    -- the lease: only the run holding it performs steps; renewed while it runs
    ADD COLUMN claimed_by text,
    ADD COLUMN lease_until timestamptz,
    -- status exited: the event whose data met the exit conditions
    ADD COLUMN exited_by_event text,
    -- once notifyOnFailure was told (failed, or succeeded_with_errors)
    ADD COLUMN notified_at timestamptz;

-- The rolling-hour window of a workflow's admissions.
CREATE INDEX executions_admitted ON executions (tenant_id, workflow_id, admitted_at)
    WHERE admitted_at IS NOT NULL;
-- A workflow's queue of throttled runs, in order.
CREATE INDEX executions_queued ON executions (tenant_id, workflow_id, requested_at, id)
    WHERE status = 'waiting' AND wait_reason = 'queue';
-- Waiting executions an event of their subject may end.
CREATE INDEX executions_exitable ON executions (tenant_id, subject)
    WHERE status = 'waiting' AND exit_conditions IS NOT NULL;

-- waiting: a delay step whose time has not come, or a step parked until its next attempt.
ALTER TABLE execution_steps DROP CONSTRAINT IF EXISTS execution_steps_status_check;
ALTER TABLE execution_steps ADD CONSTRAINT execution_steps_status_check
    CHECK (status IN ('succeeded', 'failed', 'skipped', 'waiting'));
-- What the step produced that the log keeps (a created record's id, a response excerpt).
ALTER TABLE execution_steps ADD COLUMN IF NOT EXISTS result jsonb NOT NULL DEFAULT '{}';

-- A tenant's calls to a destination that answered with a time to come back (429 with
-- Retry-After, Slack's ratelimited) wait until then, whichever workflow makes them.
CREATE TABLE destination_pauses (
    tenant_id    text NOT NULL,
    destination  text NOT NULL,             -- slack, salesforce, http:hooks.example.com, ...
    paused_until timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, destination)
);
