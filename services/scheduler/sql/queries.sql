-- name: save_schedule
-- Only a higher version replaces a row. An unchanged cron and zone keep the pending fire time,
-- so an edit of a workflow's name or actions neither skips nor repeats the slot due next.
INSERT INTO cron_schedules AS s
    (workflow_id, tenant_id, version, cron, timezone, next_fire_at, catch_up)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (workflow_id) DO UPDATE SET
    tenant_id = EXCLUDED.tenant_id,
    version = EXCLUDED.version,
    cron = EXCLUDED.cron,
    timezone = EXCLUDED.timezone,
    catch_up = EXCLUDED.catch_up,
    next_fire_at = CASE
        WHEN s.next_fire_at IS NOT NULL AND s.cron = EXCLUDED.cron AND s.timezone = EXCLUDED.timezone
        THEN s.next_fire_at
        ELSE EXCLUDED.next_fire_at
    END,
    updated_at = now()
WHERE s.version < EXCLUDED.version;

-- name: claim_due_schedules
-- Rows locked here are skipped by every other replica until this transaction ends. A slot is
-- due only once every changelog partition has been read past it ($3 is the changelog topic).
SELECT workflow_id, tenant_id, version, cron, timezone, catch_up, next_fire_at
FROM cron_schedules
WHERE next_fire_at <= $1
  AND next_fire_at <= (SELECT min(read_through) FROM changelog_progress WHERE topic = $3)
ORDER BY next_fire_at
LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: advance_schedule
UPDATE cron_schedules SET next_fire_at = $2, updated_at = now() WHERE workflow_id = $1;

-- name: record_changelog_progress
-- read_through only moves forward; a partition seen for the first time is added.
INSERT INTO changelog_progress AS p (topic, partition, read_through)
SELECT $1, partition, $3 FROM unnest($2::integer[]) AS partition
ON CONFLICT (topic, partition) DO UPDATE
SET read_through = greatest(p.read_through, EXCLUDED.read_through);

-- name: add_changelog_partitions
INSERT INTO changelog_progress (topic, partition)
SELECT $1, partition FROM unnest($2::integer[]) AS partition
ON CONFLICT (topic, partition) DO NOTHING;

-- name: save_timer
-- One timer per id: a later record for the same id replaces it (a re-parked queue run).
INSERT INTO timers AS t
    (timer_id, due_at, tenant_id, workflow_id, execution_id, reason, step, request)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (timer_id) DO UPDATE SET
    due_at = EXCLUDED.due_at,
    tenant_id = EXCLUDED.tenant_id,
    workflow_id = EXCLUDED.workflow_id,
    execution_id = EXCLUDED.execution_id,
    reason = EXCLUDED.reason,
    step = EXCLUDED.step,
    request = EXCLUDED.request,
    stored_at = now();

-- name: claim_due_timers
-- Deleted in the claiming transaction, which commits only after the broker acknowledged the
-- requests; other replicas skip the locked rows meanwhile.
DELETE FROM timers
WHERE timer_id IN (
    SELECT timer_id FROM timers
    WHERE due_at <= $1
    ORDER BY due_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
RETURNING timer_id, due_at, tenant_id, workflow_id, execution_id, reason, step, request;

-- name: next_timer_due
SELECT min(due_at) FROM timers WHERE due_at > $1;

-- name: learn_contract
-- The newest event (time, then id) wins. The next mark is kept while the contract stays active
-- with the same end date; a new end date, or becoming active again, takes the mark armed for
-- it ($11); a contract that is not active has none.
INSERT INTO contracts AS c (
    tenant_id, contract_id, status, end_date, customer_name, account_owner_email, value,
    fields, event_time, event_id, next_days
)
VALUES (
    $1, $2, coalesce($3::text, 'active'), $4::date, $5::text, $6::text, $7::numeric,
    $8::jsonb, $9, $10,
    CASE WHEN coalesce($3::text, 'active') = 'active' AND $4::date IS NOT NULL THEN $11::integer END
)
ON CONFLICT (tenant_id, contract_id) DO UPDATE SET
    status = coalesce($3::text, c.status),
    end_date = coalesce($4::date, c.end_date),
    customer_name = coalesce($5::text, c.customer_name),
    account_owner_email = coalesce($6::text, c.account_owner_email),
    value = coalesce($7::numeric, c.value),
    fields = c.fields || $8::jsonb,
    event_time = $9,
    event_id = $10,
    next_days = CASE
        WHEN coalesce($3::text, c.status) <> 'active' OR coalesce($4::date, c.end_date) IS NULL
            THEN NULL
        WHEN c.status = 'active' AND c.end_date = coalesce($4::date, c.end_date)
            THEN c.next_days
        ELSE $11::integer
    END,
    updated_at = now()
WHERE (c.event_time, c.event_id) < ($9, $10);

-- name: reject_contract_event
INSERT INTO contract_rejections (tenant_id, event_id, event_type, contract_id, reason, value)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant_id, event_id) DO NOTHING;

-- name: claim_due_contracts
-- One index range scan: every contract whose next mark's day is at most tomorrow in UTC (no
-- zone is further ahead), kept if that day has come in its tenant's zone: $1 is today in UTC,
-- ($2, $3) the tenants whose local day differs from it, with their local day.
SELECT c.tenant_id, c.contract_id, c.end_date, c.next_days, c.fields
FROM contracts c
LEFT JOIN unnest($2::text[], $3::date[]) AS z (tenant_id, today) ON z.tenant_id = c.tenant_id
WHERE c.next_due_date <= $1::date + 1
  AND c.next_due_date <= coalesce(z.today, $1::date)
ORDER BY c.next_due_date
LIMIT $4
FOR UPDATE OF c SKIP LOCKED;

-- name: advance_contract
UPDATE contracts
SET next_days = $3,
    status = CASE WHEN $4::boolean THEN 'expired' ELSE status END,
    updated_at = now()
WHERE tenant_id = $1 AND contract_id = $2;

-- name: record_revenue_event
-- An event late by at most $6 days is never put in a day whose summary went out: it moves to
-- the open day. The tenant's clock row is share-locked so that a summary being emitted either
-- sees this event or has moved the open day past it. An older one (history read again) keeps
-- its own day, which is never summarized: it is only remembered, so it is not counted later.
WITH open_day AS (SELECT summary_day FROM tenant_clocks WHERE tenant_id = $1 FOR SHARE)
INSERT INTO revenue_events (tenant_id, event_id, event_type, day, value)
VALUES (
    $1, $2, $3,
    greatest(
        $4::date,
        (SELECT summary_day FROM open_day WHERE summary_day - $6::integer <= $4::date)
    ),
    $5::numeric
)
ON CONFLICT (tenant_id, event_id) DO NOTHING;

-- name: tenant_clocks
SELECT tenant_id, timezone, summary_day, summary_at FROM tenant_clocks;

-- name: save_tenant_clock
-- A new tenant's first clock, or the same next summary in the tenant's new zone.
INSERT INTO tenant_clocks AS t (tenant_id, timezone, summary_day, summary_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id) DO UPDATE
SET timezone = EXCLUDED.timezone, summary_at = EXCLUDED.summary_at, updated_at = now()
WHERE t.summary_day = EXCLUDED.summary_day;

-- name: claim_due_summaries
SELECT tenant_id, timezone, summary_day, summary_at
FROM tenant_clocks
WHERE summary_at <= $1
ORDER BY summary_at
LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: revenue_totals
SELECT event_type, count(*) AS count, coalesce(sum(value), 0) AS value
FROM revenue_events
WHERE tenant_id = $1 AND day BETWEEN $2 AND $3
GROUP BY event_type
ORDER BY event_type;

-- name: advance_tenant_clock
UPDATE tenant_clocks SET summary_day = $2, summary_at = $3, updated_at = now()
WHERE tenant_id = $1;

-- name: prune_revenue_events
DELETE FROM revenue_events WHERE tenant_id = $1 AND day < $2;

-- name: gauges
SELECT (SELECT count(*) FROM timers) AS timers_pending,
       (SELECT count(*) FROM contracts WHERE status = 'active') AS contracts_tracked;
