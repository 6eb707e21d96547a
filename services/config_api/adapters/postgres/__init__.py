"""The config API's PostgreSQL: its migrations, named queries, and one repository per resource.

Every query names the tenant. Every change is written with its audit row (and, for workflows,
its version and outbox record) in one transaction.
"""

from services.config_api.adapters.postgres.audit import PostgresAuditLog, write_audit
from services.config_api.adapters.postgres.executions import PostgresExecutionReader
from services.config_api.adapters.postgres.gallery import PostgresTemplateGallery
from services.config_api.adapters.postgres.pool import QUERIES, PoolHolder, migrate
from services.config_api.adapters.postgres.records import PostgresProductRecords
from services.config_api.adapters.postgres.runs import PostgresRuns
from services.config_api.adapters.postgres.tenant_resources import (
    PostgresEmailTemplates,
    PostgresInboundSecrets,
    PostgresTenants,
    install_example_templates,
)
from services.config_api.adapters.postgres.workflows import PostgresWorkflowRepository

__all__ = [
    "QUERIES",
    "PoolHolder",
    "PostgresAuditLog",
    "PostgresEmailTemplates",
    "PostgresExecutionReader",
    "PostgresInboundSecrets",
    "PostgresProductRecords",
    "PostgresRuns",
    "PostgresTemplateGallery",
    "PostgresTenants",
    "PostgresWorkflowRepository",
    "install_example_templates",
    "migrate",
    "write_audit",
]
