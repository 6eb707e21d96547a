-- Envelope ids ingest has published, per tenant: a vendor's redelivery of an event published
-- within the dedup window is answered without publishing it again. A row is written only after
-- the broker acknowledged the publication, so a failed publish never makes a retry look like a
-- duplicate. Rows older than the window are removed in batches by a background loop.
CREATE TABLE IF NOT EXISTS ingest_published_events (
    tenant_id     text NOT NULL,
    event_id      text NOT NULL,
    published_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);

CREATE INDEX IF NOT EXISTS ingest_published_events_age ON ingest_published_events (published_at);
