-- Per-source inbound secrets: what ingest verifies a source's webhook signature (HubSpot's app
-- secret) or shared bearer secret (EventBridge API destinations, ...) with. They are shared
-- secrets, so unlike API keys they cannot be stored as digests: the value is needed to compute
-- HMACs. The config API writes them and never returns them; only ingest reads the value.
CREATE TABLE IF NOT EXISTS inbound_secrets (
    tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    source      text NOT NULL CHECK (source IN ('hubspot', 'aws', 'azure', 'salesforce', 'native')),
    secret      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, source)
);
