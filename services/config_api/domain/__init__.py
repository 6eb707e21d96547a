"""The config API's pure logic: inputs and their errors, workflow revisions, pages, records.

Imports no I/O library (an import-linter contract); adapters turn rows into these records.
"""

from services.config_api.domain.audit import (
    RESOURCE_TYPES,
    AuditChange,
    AuditRecord,
    workflow_state,
)
from services.config_api.domain.dry_run import DryRunRequest, dry_run, parse_dry_run
from services.config_api.domain.executions import EXECUTION_STATUSES, ExecutionRecord, StepRecord
from services.config_api.domain.inputs import (
    Conflict,
    InvalidInput,
    Precondition,
    VersionConflict,
    check_json,
    check_text,
    json_path,
    parse_definition,
    parse_if_match,
    parse_limit,
)
from services.config_api.domain.pages import Cursor, Page, PositionCursor
from services.config_api.domain.tenant_resources import (
    EXAMPLE_TEMPLATES,
    EmailTemplate,
    EmailTemplateInput,
    InboundSecretInput,
    NameTaken,
    merge_template,
    new_template_id,
    parse_secret,
    parse_template,
)
from services.config_api.domain.workflows import (
    CHANGELOG_TOPIC,
    READ_ONLY_FIELDS,
    Revision,
    VersionRecord,
    WorkflowPatch,
    WorkflowRecord,
    copy_name,
    duplicate_definition,
    merge_patch,
    new_workflow_id,
    parse_patch,
    stored_definition,
)

__all__ = [
    "CHANGELOG_TOPIC",
    "EXAMPLE_TEMPLATES",
    "EXECUTION_STATUSES",
    "READ_ONLY_FIELDS",
    "RESOURCE_TYPES",
    "AuditChange",
    "AuditRecord",
    "Conflict",
    "Cursor",
    "DryRunRequest",
    "EmailTemplate",
    "EmailTemplateInput",
    "ExecutionRecord",
    "InboundSecretInput",
    "InvalidInput",
    "NameTaken",
    "Page",
    "PositionCursor",
    "Precondition",
    "Revision",
    "StepRecord",
    "VersionConflict",
    "VersionRecord",
    "WorkflowPatch",
    "WorkflowRecord",
    "check_json",
    "check_text",
    "copy_name",
    "dry_run",
    "duplicate_definition",
    "json_path",
    "merge_patch",
    "merge_template",
    "new_template_id",
    "new_workflow_id",
    "parse_definition",
    "parse_dry_run",
    "parse_if_match",
    "parse_limit",
    "parse_patch",
    "parse_secret",
    "parse_template",
    "stored_definition",
    "workflow_state",
]
