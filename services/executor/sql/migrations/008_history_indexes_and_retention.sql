-- What the execution history reads need at scale (the config API's runs page, a workflow's stats
-- strip) and what retention deletes by.
--
-- Built inside the migration's transaction, so each build blocks writes to executions while it
-- runs; on a large table an operator builds them first with CREATE INDEX CONCURRENTLY under the
-- same names (IF NOT EXISTS then skips them; docs/operations.md).

-- A workflow's executions by time, carrying what the stats read (status, finished_at): its
-- history pages and its stats are index-only scans. Supersedes executions_by_workflow (001),
-- of which it is an extension.
CREATE INDEX IF NOT EXISTS executions_by_workflow_time
    ON executions (tenant_id, workflow_id, created_at, id) INCLUDE (status, finished_at);
DROP INDEX IF EXISTS executions_by_workflow;

-- The tenant's runs across workflows, newest first, and the same of one status (the runs
-- page's status tabs: a rare status is found without walking every other run).
CREATE INDEX IF NOT EXISTS executions_by_tenant_time ON executions (tenant_id, created_at, id);
CREATE INDEX IF NOT EXISTS executions_by_tenant_status_time
    ON executions (tenant_id, status, created_at, id);

-- Finished executions by when they finished: what retention deletes, oldest first. Running
-- and waiting (parked) executions are never in it.
CREATE INDEX IF NOT EXISTS executions_finished
    ON executions (finished_at)
    WHERE status IN ('succeeded', 'succeeded_with_errors', 'failed', 'throttled', 'exited');
