-- Enrollment "once" (seed 001): the first execution of a workflow for each subject (the
-- account or customer an event is about). A redelivered event yields the same execution id,
-- which is admitted again; any other execution for that subject is not.
CREATE TABLE IF NOT EXISTS matcher_enrollments (
    tenant_id     text NOT NULL,
    workflow_id   text NOT NULL,
    subject       text NOT NULL,
    execution_id  text NOT NULL,
    enrolled_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, workflow_id, subject)
);
