-- A schedule's catch-up policy after downtime ('once': one late event; 'skip': none).
ALTER TABLE cron_schedules
    ADD COLUMN IF NOT EXISTS catch_up text NOT NULL DEFAULT 'once'
    CHECK (catch_up IN ('once', 'skip'));

-- How far each workflows.changelog partition has been read: every record produced before
-- read_through is in cron_schedules. A cron slot fires only once every partition is read past
-- it, so that the version it fires is the one current at the slot. Keyed by topic so that
-- deployments (or tests) with different TOPIC_PREFIXes can share a database.
CREATE TABLE IF NOT EXISTS changelog_progress (
    topic         text NOT NULL,
    partition     integer NOT NULL CHECK (partition >= 0),
    read_through  timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (topic, partition)
);
