-- name: save_schedule
-- Only a higher version replaces a row. An unchanged cron and zone keep the pending fire time,
-- so an edit of a workflow's name or actions neither skips nor repeats the slot due next.
INSERT INTO cron_schedules AS s (workflow_id, tenant_id, version, cron, timezone, next_fire_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (workflow_id) DO UPDATE SET
    tenant_id = EXCLUDED.tenant_id,
    version = EXCLUDED.version,
    cron = EXCLUDED.cron,
    timezone = EXCLUDED.timezone,
    next_fire_at = CASE
        WHEN s.next_fire_at IS NOT NULL AND s.cron = EXCLUDED.cron AND s.timezone = EXCLUDED.timezone
        THEN s.next_fire_at
        ELSE EXCLUDED.next_fire_at
    END,
    updated_at = now()
WHERE s.version < EXCLUDED.version;

-- name: claim_due_schedules
-- Rows locked here are skipped by every other replica until this transaction ends.
SELECT workflow_id, tenant_id, version, cron, timezone, next_fire_at
FROM cron_schedules
WHERE next_fire_at <= $1
ORDER BY next_fire_at
LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: advance_schedule
UPDATE cron_schedules SET next_fire_at = $2, updated_at = now() WHERE workflow_id = $1;
