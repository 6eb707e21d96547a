-- Inbound hooks: a workflow triggered by webhook.received has its own URL on ingest,
-- POST /v1/hooks/{tenant}/{token}. The token is shown once, when it is issued or rotated; only
-- its SHA-256 digest is stored (a token is 32 random bytes, so a fast hash is as strong as a
-- slow one, and a lookup stays one index probe). Rotating replaces the digest: the old token
-- stops working at once. Deleting the workflow deletes its hook.
CREATE TABLE IF NOT EXISTS workflow_hooks (
    workflow_id   text PRIMARY KEY REFERENCES workflows (id) ON DELETE CASCADE,
    tenant_id     text NOT NULL,
    token_hash    bytea NOT NULL UNIQUE,
    token_prefix  text NOT NULL,           -- the token's first 8 characters, to tell tokens apart
    created_at    timestamptz NOT NULL DEFAULT now(),
    rotated_at    timestamptz NOT NULL DEFAULT now(),
    rotated_by    text NOT NULL
);

-- Ingest's contract: the hooks that can fire, looked up by (token_hash, tenant_id). Only
-- workflows whose current trigger is webhook.received have one; a workflow whose trigger was
-- changed keeps its row (changing it back revives the URL) but is not listed.
CREATE OR REPLACE VIEW config_api_published.workflow_hooks AS
SELECT h.tenant_id, h.workflow_id, h.token_hash, h.rotated_at
FROM workflow_hooks h
JOIN workflows w ON w.id = h.workflow_id AND w.tenant_id = h.tenant_id
WHERE w.trigger = 'webhook.received';

COMMENT ON VIEW config_api_published.workflow_hooks IS
    'Read-only contract of the config API: each firing inbound hook''s token digest (ingest reads it).';
