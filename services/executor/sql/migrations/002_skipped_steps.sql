-- A step whose action's own conditions ("only if", seed 001) were not met is recorded as skipped.
ALTER TABLE execution_steps DROP CONSTRAINT IF EXISTS execution_steps_status_check;
ALTER TABLE execution_steps ADD CONSTRAINT execution_steps_status_check
    CHECK (status IN ('succeeded', 'failed', 'skipped'));
