-- The templates gallery (workflow_templates): every query sees the system templates (tenant_id
-- null) and the calling tenant's own, never another tenant's.

-- name: list_gallery
-- Featured first, then by name and id; $2/$3 filter by category / scope ('system' | 'tenant')
-- when not null; ($4, $5, $6), when not null, is where the previous page ended.
SELECT * FROM workflow_templates
WHERE (tenant_id IS NULL OR tenant_id = $1)
  AND ($2::text IS NULL OR category = $2)
  AND ($3::text IS NULL OR (tenant_id IS NULL) = ($3 = 'system'))
  AND ($4::boolean IS NULL OR (NOT featured, name, id) > (NOT $4, $5::text, $6::bigint))
ORDER BY NOT featured, name, id
LIMIT $7;

-- name: get_gallery_template
-- The tenant's own template of that slug wins over a system one.
SELECT * FROM workflow_templates
WHERE slug = $2 AND (tenant_id IS NULL OR tenant_id = $1)
ORDER BY tenant_id IS NULL
LIMIT 1;

-- name: count_template_use
-- In the transaction that creates the workflow: the count moves with the copy, or not at all.
UPDATE workflow_templates SET usage_count = usage_count + 1
WHERE id = $2 AND (tenant_id IS NULL OR tenant_id = $1);

-- name: insert_tenant_template
-- No row when the slug is taken: by a system template or by one of the tenant's own.
INSERT INTO workflow_templates (
    tenant_id, slug, name, description, category, featured, workflow, sample_event,
    source_workflow_id, created_by
)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
WHERE NOT EXISTS (SELECT 1 FROM workflow_templates WHERE tenant_id IS NULL AND slug = $2)
ON CONFLICT (tenant_id, slug) WHERE tenant_id IS NOT NULL DO NOTHING
RETURNING *;

-- name: system_templates
-- What the migrations shipped, by slug (the drift check compares it with the source files).
SELECT slug, name, description, category, featured, workflow, sample_event
FROM workflow_templates
WHERE tenant_id IS NULL
ORDER BY slug;
