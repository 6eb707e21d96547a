-- What the scheduler learned from workflows.changelog: one row per workflow it has seen, at the
-- highest version seen. A row without a cron (the workflow was deleted, is not active, or is not
-- a schedule.cron workflow) fires nothing; it stays so that an older record read again — the
-- changelog is never compacted and is read at least once — cannot bring the schedule back.
-- A row with a cron but no next_fire_at has no fire time left (a cron that never matches again).
CREATE TABLE IF NOT EXISTS cron_schedules (
    workflow_id   text PRIMARY KEY,
    tenant_id     text NOT NULL,
    version       integer NOT NULL CHECK (version >= 1),
    cron          text,
    timezone      text,
    next_fire_at  timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((cron IS NULL) = (timezone IS NULL)),
    CHECK (next_fire_at IS NULL OR cron IS NOT NULL)
);

CREATE INDEX IF NOT EXISTS cron_schedules_next_fire_at
    ON cron_schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;
