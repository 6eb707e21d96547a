-- The engine's columns in the executor's published contract (migration 006): which event ended
-- an exited execution, and when notifyOnFailure was told. Appended at the end, as
-- CREATE OR REPLACE VIEW requires; every earlier column keeps its name and meaning.
--
-- status: any of SPEC §5's seven (running, waiting, succeeded, succeeded_with_errors, failed,
-- throttled, exited; migration 003). exited_by_event: the id of the event whose data met the
-- workflow's exitConditions while the execution waited (status exited), else null.
-- notified_at: when notifyOnFailure was told about a failed or succeeded_with_errors execution,
-- else null. A step's status may be waiting too (a delay whose time has not come, a step parked
-- until its next attempt).

CREATE OR REPLACE VIEW executor_published.executions AS
SELECT id, tenant_id, workflow_id, workflow_version, trigger_type, event, status, error,
       created_at, finished_at, deadlettered_at, exited_by_event, notified_at
FROM executions;
