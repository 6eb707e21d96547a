-- Workflows, every version of each, and the outbox that carries changes to Kafka.

CREATE TABLE IF NOT EXISTS workflows (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL,
    version     int NOT NULL,              -- the current version (see workflow_versions)
    name        text NOT NULL,
    trigger     text NOT NULL,
    status      text NOT NULL,
    definition  jsonb NOT NULL,            -- the WorkflowDefinition at the current version
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL
);
CREATE INDEX IF NOT EXISTS workflows_tenant_created ON workflows (tenant_id, created_at, id);

-- Immutable: one row per change. Executions point at (workflow_id, version).
CREATE TABLE IF NOT EXISTS workflow_versions (
    workflow_id text NOT NULL,
    version     int NOT NULL,
    tenant_id   text NOT NULL,
    definition  jsonb,                     -- null: the workflow was deleted at this version
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

-- Written in the same transaction as the change; the relay publishes rows in id order and
-- deletes them once the broker acknowledged them.
CREATE TABLE IF NOT EXISTS outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text NOT NULL,             -- logical topic name, without TOPIC_PREFIX
    key         text NOT NULL,
    value       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
