-- Version history details, the tenant's named email templates, and the audit log.

-- What made each version: created | updated | restored | deleted (null on rows written before
-- this migration), and for a restore, the version whose definition it copied.
ALTER TABLE workflow_versions ADD COLUMN IF NOT EXISTS change text;
ALTER TABLE workflow_versions ADD COLUMN IF NOT EXISTS restored_from int;
-- Version history and execution history look a workflow up by tenant even after its deletion.
CREATE INDEX IF NOT EXISTS workflow_versions_tenant ON workflow_versions (tenant_id, workflow_id);

-- Named templates for the email action ("template": "high-value-deal"). The executor reads them
-- by (tenant_id, name).
CREATE TABLE IF NOT EXISTS email_templates (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL,
    name        text NOT NULL,
    subject     text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX IF NOT EXISTS email_templates_tenant_created
    ON email_templates (tenant_id, created_at, id);

-- One row per change, written in the change's own transaction. "before"/"after" hold the
-- resource as it was and became (null when it did not exist); never a secret or a key.
CREATE TABLE IF NOT EXISTS audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text NOT NULL,
    actor         text NOT NULL,         -- "api-key:<id>", or "cli" for the operator CLI
    action        text NOT NULL,         -- create | update | delete | duplicate | restore | ...
    resource_type text NOT NULL,         -- workflow | email_template | inbound_secret | api_key | tenant
    resource_id   text NOT NULL,
    before        jsonb,
    after         jsonb,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS audit_log_tenant ON audit_log (tenant_id, id);
