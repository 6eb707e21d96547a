-- name: published
-- The ids among $2 published for tenant $1 less than $3 seconds ago.
SELECT event_id FROM ingest_published_events
WHERE tenant_id = $1 AND event_id = ANY($2::text[])
  AND published_at > now() - make_interval(secs => $3);

-- name: remember
-- Record ids $2 of tenant $1 as published now.
INSERT INTO ingest_published_events (tenant_id, event_id)
SELECT $1, unnest($2::text[])
ON CONFLICT (tenant_id, event_id) DO UPDATE SET published_at = now();

-- name: purge_expired
-- Remove up to $2 rows published more than $1 seconds ago, oldest first (by the age index);
-- rows another purge holds are skipped, so replicas purging at once do not wait on each other.
DELETE FROM ingest_published_events
WHERE (tenant_id, event_id) IN (
    SELECT tenant_id, event_id FROM ingest_published_events
    WHERE published_at < now() - make_interval(secs => $1)
    ORDER BY published_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
);

-- name: hook_workflow
-- The workflow whose inbound hook token has digest $1, in tenant $2. Through the config API's
-- published view: ingest never reads the config API's tables.
SELECT workflow_id FROM config_api_published.workflow_hooks
WHERE token_hash = $1 AND tenant_id = $2;
