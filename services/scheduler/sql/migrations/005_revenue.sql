-- Each tenant's clock as the scheduler applies it: its time zone (from the tenancy view
-- tenant_settings) and its next revenue.daily_summary, of summary_day, due at summary_at.
CREATE TABLE IF NOT EXISTS tenant_clocks (
    tenant_id    text PRIMARY KEY,
    timezone     text NOT NULL,
    summary_day  date NOT NULL,
    summary_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS tenant_clocks_summary_at ON tenant_clocks (summary_at);

-- Revenue-bearing events seen on events.normalized, once each (by event id), under the local
-- day they count in. A row stays for SCHEDULER_REVENUE_RETENTION_DAYS after its day, so that a
-- redelivered event is still recognised, and is deleted when a later summary is emitted.
CREATE TABLE IF NOT EXISTS revenue_events (
    tenant_id   text NOT NULL,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    day         date NOT NULL,
    value       numeric,
    seen_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);

CREATE INDEX IF NOT EXISTS revenue_events_day ON revenue_events (tenant_id, day);
