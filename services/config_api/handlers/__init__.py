"""The config API's handlers: one plain async function per request, over repository protocols.

They decide; the repositories (``adapters.postgres``) store, under the locks and in the
transactions their docstrings promise.
"""

from services.config_api.handlers.audit import AuditReader, list_audit
from services.config_api.handlers.executions import ExecutionReader, get_execution, list_executions
from services.config_api.handlers.gallery import (
    TemplateGallery,
    get_gallery_template,
    list_gallery,
    publish_template,
    use_template,
)
from services.config_api.handlers.records import (
    ProductRecordReader,
    get_product_record,
    list_product_records,
)
from services.config_api.handlers.tenant_resources import (
    EmailTemplateRepository,
    InboundSecretRepository,
    TenantRepository,
    create_template,
    delete_inbound_secret,
    delete_template,
    get_inbound_secret,
    get_template,
    get_tenant,
    inbound_source,
    list_inbound_secrets,
    list_templates,
    set_inbound_secret,
    update_template,
    update_tenant,
)
from services.config_api.handlers.workflows import (
    WORKFLOW_STATUSES,
    WorkflowRepository,
    create_workflow,
    delete_workflow,
    duplicate_workflow,
    get_version,
    get_workflow,
    list_versions,
    list_workflows,
    restore_version,
    test_workflow,
    update_workflow,
)

__all__ = [
    "WORKFLOW_STATUSES",
    "AuditReader",
    "EmailTemplateRepository",
    "ExecutionReader",
    "InboundSecretRepository",
    "ProductRecordReader",
    "TemplateGallery",
    "TenantRepository",
    "WorkflowRepository",
    "create_template",
    "create_workflow",
    "delete_inbound_secret",
    "delete_template",
    "delete_workflow",
    "duplicate_workflow",
    "get_execution",
    "get_gallery_template",
    "get_inbound_secret",
    "get_product_record",
    "get_template",
    "get_tenant",
    "get_version",
    "get_workflow",
    "inbound_source",
    "list_audit",
    "list_executions",
    "list_gallery",
    "list_inbound_secrets",
    "list_product_records",
    "list_templates",
    "list_versions",
    "list_workflows",
    "publish_template",
    "restore_version",
    "set_inbound_secret",
    "test_workflow",
    "update_template",
    "update_tenant",
    "update_workflow",
    "use_template",
]
