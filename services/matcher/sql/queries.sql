-- name: enroll
-- The execution enrolled for (tenant, workflow, subject): this one if it is the first.
INSERT INTO matcher_enrollments (tenant_id, workflow_id, subject, execution_id)
VALUES ($1, $2, $3, $4)
ON CONFLICT (tenant_id, workflow_id, subject)
DO UPDATE SET execution_id = matcher_enrollments.execution_id
RETURNING execution_id;
