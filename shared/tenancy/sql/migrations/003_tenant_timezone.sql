-- A tenant's time zone (an IANA name, validated by whoever writes it: the config API and its
-- CLI): the calendar its contract reminders, daily summaries and other day-based time events
-- follow. UTC unless set.
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS timezone text NOT NULL DEFAULT 'UTC';

-- The published contract for services other than the config API (the scheduler): one row per
-- tenant with the settings that shape its time events. Read it; never write through it.
CREATE OR REPLACE VIEW tenant_settings AS
SELECT id AS tenant_id, timezone FROM tenants;

COMMENT ON VIEW tenant_settings IS
    'Read-only contract of shared.tenancy: each tenant''s IANA time zone (scheduler reads it).';
