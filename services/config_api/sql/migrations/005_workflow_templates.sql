-- The templates gallery (seed 003): system templates (tenant_id null), shipped by generated
-- migrations from services/config_api/gallery/*.json, and templates a tenant published from one
-- of its workflows, visible to that tenant only.
CREATE TABLE IF NOT EXISTS workflow_templates (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id          text,                  -- null: a system template, every tenant sees it
    slug               text NOT NULL,
    name               text NOT NULL,
    description        text NOT NULL DEFAULT '',
    category           text NOT NULL
        CHECK (category IN ('Sales', 'Customer Success', 'Operations', 'Marketing', 'Platform')),
    featured           boolean NOT NULL DEFAULT false,
    workflow           jsonb NOT NULL,        -- a workflow definition without status
    sample_event       jsonb,                 -- {"type", "subject"?, "data"}: shown and tested with
    usage_count        bigint NOT NULL DEFAULT 0,   -- "Use template" clicks, of every tenant
    source_workflow_id text,                  -- a tenant template: the workflow it was copied from
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    created_by         text NOT NULL
);
-- A slug names one system template, and one template per tenant. Publishing refuses a tenant
-- slug that a system template has; where a later system template takes a tenant's slug, the
-- tenant's own wins when it is looked up by slug.
CREATE UNIQUE INDEX IF NOT EXISTS workflow_templates_system_slug
    ON workflow_templates (slug) WHERE tenant_id IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS workflow_templates_tenant_slug
    ON workflow_templates (tenant_id, slug) WHERE tenant_id IS NOT NULL;
