-- name: published
-- The ids among $2 published for tenant $1 less than $3 seconds ago.
SELECT event_id FROM ingest_published_events
WHERE tenant_id = $1 AND event_id = ANY($2::text[])
  AND published_at > now() - make_interval(secs => $3);

-- name: remember
-- Record ids $2 of tenant $1 as published now, and remove up to $4 rows older than $3 seconds
-- (the table keeps itself to the dedup window without a sweeper).
WITH expired AS (
    DELETE FROM ingest_published_events
    WHERE ctid IN (
        SELECT ctid FROM ingest_published_events
        WHERE published_at < now() - make_interval(secs => $3)
        LIMIT $4
        FOR UPDATE SKIP LOCKED
    )
)
INSERT INTO ingest_published_events (tenant_id, event_id)
SELECT $1, unnest($2::text[])
ON CONFLICT (tenant_id, event_id) DO UPDATE SET published_at = now();
