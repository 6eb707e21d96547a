-- What a step produced (a created record's id, a size-capped answer excerpt), and the product's
-- own records that actions write: tasks, activities, in-app notifications, draft offers, owner
-- assignments, tags, and typed records (update_record / create_record).
--
-- Every row an action writes has an id derived from (execution id, step index[, item]): a
-- redelivered step computes the same id and its INSERT ... ON CONFLICT DO NOTHING writes nothing,
-- so each row is created once. The config API reads these tables only through the views of
-- executor_published (migration 006).

ALTER TABLE execution_steps ADD COLUMN IF NOT EXISTS result jsonb NOT NULL DEFAULT '{}';

-- create_task and create_task_series (item_index: the task's position in the series; 0 for one).
CREATE TABLE IF NOT EXISTS tasks (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL,
    workflow_id  text NOT NULL,
    execution_id text NOT NULL,
    step_index   int NOT NULL,
    item_index   int NOT NULL DEFAULT 0,
    subject      text,                  -- the event's subject: the account the task is about
    title        text NOT NULL,
    description  text,
    assignee     text NOT NULL,         -- resolved: an e-mail, a user id, or "role:<name>"
    assign_to    text NOT NULL,         -- as the action wrote it ("account_owner")
    due_date     date,
    priority     text NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
    project      text,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (execution_id, step_index, item_index)
);
CREATE INDEX IF NOT EXISTS tasks_by_tenant ON tasks (tenant_id, created_at, id);

-- log_activity
CREATE TABLE IF NOT EXISTS activities (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL,
    workflow_id   text NOT NULL,
    execution_id  text NOT NULL,
    step_index    int NOT NULL,
    subject       text,
    activity_type text NOT NULL,        -- note | call | email | meeting | task
    title         text NOT NULL,
    body          text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (execution_id, step_index)
);
CREATE INDEX IF NOT EXISTS activities_by_tenant ON activities (tenant_id, created_at, id);

-- in_app_notification: one row per recipient (item_index: the recipient's position in "to").
CREATE TABLE IF NOT EXISTS notifications (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL,
    workflow_id   text NOT NULL,
    execution_id  text NOT NULL,
    step_index    int NOT NULL,
    item_index    int NOT NULL DEFAULT 0,
    subject       text,
    recipient     text NOT NULL,        -- resolved, as for task assignees
    title         text,
    message       text NOT NULL,
    read_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (execution_id, step_index, item_index)
);
CREATE INDEX IF NOT EXISTS notifications_by_tenant ON notifications (tenant_id, created_at, id);

-- create_draft_offer
CREATE TABLE IF NOT EXISTS draft_offers (
    id               text PRIMARY KEY,
    tenant_id        text NOT NULL,
    workflow_id      text NOT NULL,
    execution_id     text NOT NULL,
    step_index       int NOT NULL,
    subject          text,
    based_on         text NOT NULL,     -- current_contract | current_offer
    source_id        text,              -- the event's contractId or offerId
    name             text NOT NULL,
    customer_name    text,
    product_name     text,
    duration_months  int,
    discount_percent double precision NOT NULL DEFAULT 0,
    base_value       double precision,  -- the event's value
    value            double precision,  -- base_value less the discount
    status           text NOT NULL DEFAULT 'draft',
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (execution_id, step_index)
);
CREATE INDEX IF NOT EXISTS draft_offers_by_tenant ON draft_offers (tenant_id, created_at, id);

-- assign_to_user: who owns the event's subject from then on (the latest assignment wins).
CREATE TABLE IF NOT EXISTS assignments (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL,
    workflow_id  text NOT NULL,
    execution_id text NOT NULL,
    step_index   int NOT NULL,
    subject      text NOT NULL,
    assignee     text NOT NULL,
    assign_to    text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (execution_id, step_index)
);
CREATE INDEX IF NOT EXISTS assignments_by_tenant ON assignments (tenant_id, created_at, id);

-- tag: a label on the event's subject, once per (subject, tag) whatever tags it again.
CREATE TABLE IF NOT EXISTS tags (
    id           text PRIMARY KEY,      -- derived from (tenant, subject, tag)
    tenant_id    text NOT NULL,
    subject      text NOT NULL,
    tag          text NOT NULL,
    workflow_id  text NOT NULL,         -- the first workflow that tagged it
    execution_id text NOT NULL,
    step_index   int NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, subject, tag)
);
CREATE INDEX IF NOT EXISTS tags_by_tenant ON tags (tenant_id, created_at, id);

-- update_record / create_record: the product's typed records and the fields workflows set on
-- them (only the fields shared.workflows.records allows). record_key is the record's own id:
-- the action's recordId, or the event's subject, or for create_record one derived from the step.
CREATE TABLE IF NOT EXISTS records (
    id           text PRIMARY KEY,      -- derived from (tenant, record_type, record_key)
    tenant_id    text NOT NULL,
    record_type  text NOT NULL,
    record_key   text NOT NULL,
    fields       jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, record_type, record_key)
);
CREATE INDEX IF NOT EXISTS records_by_tenant ON records (tenant_id, created_at, id);

-- One row per step that changed a record: the change applies only when this row is inserted,
-- so a redelivered step never applies an old change over a newer one.
CREATE TABLE IF NOT EXISTS record_changes (
    execution_id text NOT NULL,
    step_index   int NOT NULL,
    tenant_id    text NOT NULL,
    workflow_id  text NOT NULL,
    record_id    text NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    change       text NOT NULL CHECK (change IN ('created', 'updated')),
    fields       jsonb NOT NULL,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (execution_id, step_index)
);
CREATE INDEX IF NOT EXISTS record_changes_by_record ON record_changes (record_id, changed_at);
