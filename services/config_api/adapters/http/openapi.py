"""``GET /api/openapi.json``: the OpenAPI 3.1 document of every route of the config API.

The operations are listed here, beside the routes they describe (a test checks that both list
the same ones); their schemas and parameters are in ``openapi_components``.
"""

from __future__ import annotations

import functools

from aiohttp import web

from services.config_api.adapters.http.common import OPENAPI_PATH, api
from services.config_api.adapters.http.openapi_components import (
    Schema,
    api_schemas,
    hook_schemas,
    model_schemas,
    parameters,
    record_filter_name,
    record_schemas,
    ref,
    workflow_schemas,
)
from services.config_api.adapters.http.openapi_gallery import gallery_parameters, gallery_schemas
from services.config_api.adapters.http.openapi_runs import run_parameters, run_schemas
from services.config_api.domain import PRODUCT_RESOURCES


def _error(description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


_ERRORS = {
    "400": _error("the body is not JSON"),
    "401": _error("no valid API key"),
    "403": _error("a read-only API key tried to change something"),
    "404": _error("no such resource in this tenant"),
    "409": _error("a conflict with the current state (version, name)"),
    "413": _error("the body is larger than the server accepts"),
    "422": _error("the input is invalid; details name each path"),
    "503": _error("the service that publishes this data has not published it yet"),
}


def _operation(
    operation_id: str,
    summary: str,
    *,
    ok: tuple[int, str, str | None],
    errors: tuple[int, ...],
    parameters: tuple[str, ...] = (),
    body: str | None = None,
    tag: str,
) -> Schema:
    status, description, schema = ok
    success: Schema = {"description": description}
    if schema is not None:
        success["content"] = {"application/json": {"schema": ref(schema)}}
    operation: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "parameters": [{"$ref": f"#/components/parameters/{name}"} for name in parameters],
        "responses": {str(status): success, **{str(code): _ERRORS[str(code)] for code in errors}},
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(body)}},
        }
    return operation


_READ = (401, 422)
_READ_ONE = (401, 404, 422)
_WRITE = (400, 401, 403, 413, 422)
_WRITE_ONE = (400, 401, 403, 404, 413, 422)
_PAGE = ("Limit", "Cursor")


def _paths(names: dict[str, str]) -> dict[str, Schema]:
    return {
        "/api/workflows": {
            "get": _operation(
                "listWorkflows",
                "List workflows, oldest first",
                ok=(200, "a page of workflows", "WorkflowPage"),
                errors=_READ,
                parameters=("StatusFilter", "TriggerFilter", *_PAGE),
                tag="workflows",
            ),
            "post": _operation(
                "createWorkflow",
                "Create a workflow (version 1)",
                ok=(201, "created; Location names it", "Workflow"),
                errors=_WRITE,
                body="WorkflowCreate",
                tag="workflows",
            ),
        },
        "/api/workflows/{workflow_id}": {
            "get": _operation(
                "getWorkflow",
                "Get a workflow at its current version (ETag: the version)",
                ok=(200, "the workflow", "Workflow"),
                errors=_READ_ONE,
                parameters=("WorkflowId",),
                tag="workflows",
            ),
            "put": _operation(
                "updateWorkflow",
                'Partially update a workflow: a new version (e.g. {"active": false})',
                ok=(200, "the workflow at its new version", "Workflow"),
                errors=(*_WRITE_ONE, 409),
                parameters=("WorkflowId", "IfMatch"),
                body="WorkflowPatch",
                tag="workflows",
            ),
            "delete": _operation(
                "deleteWorkflow",
                "Delete a workflow; its versions and executions stay readable",
                ok=(204, "deleted", None),
                errors=(401, 403, 404, 409, 422),
                parameters=("WorkflowId", "IfMatch"),
                tag="workflows",
            ),
        },
        "/api/workflows/{workflow_id}/duplicate": {
            "post": _operation(
                "duplicateWorkflow",
                'Copy a workflow as a new draft named "<name> (copy)"',
                ok=(201, "the copy; Location names it", "Workflow"),
                errors=(401, 403, 404, 422),
                parameters=("WorkflowId",),
                tag="workflows",
            ),
        },
        "/api/workflows/{workflow_id}/test": {
            "post": _operation(
                "testWorkflow",
                "Dry run: each condition's result and the actions rendered; nothing is performed",
                ok=(200, "what the workflow would do with this data", "DryRunResult"),
                errors=(400, 401, 404, 413, 422),
                parameters=("WorkflowId",),
                body="DryRunRequest",
                tag="workflows",
            ),
        },
        "/api/workflows/{workflow_id}/hook-token": {
            "post": _operation(
                "issueWorkflowHookToken",
                "Issue the token of a webhook.received workflow's inbound hook, or rotate it "
                "(the old token stops working); the token is shown only in this answer",
                ok=(201, "the hook's URL and token", "WorkflowHookToken"),
                errors=(401, 403, 404, 409, 422),
                parameters=("WorkflowId",),
                tag="workflows",
            ),
        },
        "/api/workflows/{workflow_id}/versions": {
            "get": _operation(
                "listWorkflowVersions",
                "Version history, newest first",
                ok=(200, "a page of versions", "WorkflowVersionPage"),
                errors=_READ_ONE,
                parameters=("WorkflowId", *_PAGE),
                tag="workflows",
            ),
        },
        "/api/workflows/{workflow_id}/versions/{version}": {
            "get": _operation(
                "getWorkflowVersion",
                "One version of a workflow",
                ok=(200, "the version", "WorkflowVersion"),
                errors=_READ_ONE,
                parameters=("WorkflowId", "Version"),
                tag="workflows",
            ),
        },
        "/api/workflows/{workflow_id}/versions/{version}/restore": {
            "post": _operation(
                "restoreWorkflowVersion",
                "Restore a version: a new version with its definition",
                ok=(200, "the workflow at its new version", "Workflow"),
                errors=(401, 403, 404, 409, 422),
                parameters=("WorkflowId", "Version", "IfMatch"),
                tag="workflows",
            ),
        },
        "/api/workflows/{workflow_id}/executions": {
            "get": _operation(
                "listWorkflowExecutions",
                "Execution history of a workflow, newest first",
                ok=(200, "a page of executions", "ExecutionPage"),
                errors=(*_READ_ONE, 503),
                parameters=("WorkflowId", "ExecutionStatusFilter", *_PAGE),
                tag="executions",
            ),
        },
        "/api/executions/{execution_id}": {
            "get": _operation(
                "getExecution",
                "One execution with its step logs, in step order",
                ok=(200, "the execution", "ExecutionWithSteps"),
                errors=(*_READ_ONE, 503),
                parameters=("ExecutionId",),
                tag="executions",
            ),
        },
        "/api/tenant": {
            "get": _operation(
                "getTenant",
                "The caller's tenant: its name and time zone",
                ok=(200, "the tenant", "Tenant"),
                errors=_READ_ONE,
                tag="tenant",
            ),
            "put": _operation(
                "updateTenant",
                "Rename the tenant or set its IANA time zone (contract reminders and daily "
                "summaries follow its calendar days)",
                ok=(200, "the tenant", "Tenant"),
                errors=_WRITE_ONE,
                body=names["TenantPatch:validation"],
                tag="tenant",
            ),
        },
        "/api/email-templates": {
            "get": _operation(
                "listEmailTemplates",
                "List email templates, oldest first",
                ok=(200, "a page of templates", "EmailTemplatePage"),
                errors=_READ,
                parameters=_PAGE,
                tag="email templates",
            ),
            "post": _operation(
                "createEmailTemplate",
                "Create an email template (names are unique per tenant)",
                ok=(201, "created; Location names it", "EmailTemplate"),
                errors=(*_WRITE, 409),
                body=names["EmailTemplateInput:validation"],
                tag="email templates",
            ),
        },
        "/api/email-templates/{template_id}": {
            "get": _operation(
                "getEmailTemplate",
                "Get an email template",
                ok=(200, "the template", "EmailTemplate"),
                errors=_READ_ONE,
                parameters=("TemplateId",),
                tag="email templates",
            ),
            "put": _operation(
                "updateEmailTemplate",
                "Partially update an email template",
                ok=(200, "the template", "EmailTemplate"),
                errors=(*_WRITE_ONE, 409),
                parameters=("TemplateId",),
                body="EmailTemplatePatch",
                tag="email templates",
            ),
            "delete": _operation(
                "deleteEmailTemplate",
                "Delete an email template",
                ok=(204, "deleted", None),
                errors=(401, 403, 404, 422),
                parameters=("TemplateId",),
                tag="email templates",
            ),
        },
        "/api/inbound-secrets": {
            "get": _operation(
                "listInboundSecrets",
                "Which sources have a secret set (never the secrets)",
                ok=(200, "every source", "InboundSecretList"),
                errors=_READ,
                tag="inbound secrets",
            ),
        },
        "/api/inbound-secrets/{source}": {
            "get": _operation(
                "getInboundSecret",
                "Whether the source's secret is set, and since when",
                ok=(200, "the secret's status", "InboundSecret"),
                errors=_READ_ONE,
                parameters=("Source",),
                tag="inbound secrets",
            ),
            "put": _operation(
                "setInboundSecret",
                "Set or replace the source's secret (write-only)",
                ok=(200, "the secret's status", "InboundSecret"),
                errors=_WRITE_ONE,
                parameters=("Source",),
                body=names["InboundSecretInput:validation"],
                tag="inbound secrets",
            ),
            "delete": _operation(
                "deleteInboundSecret",
                "Remove the source's secret",
                ok=(204, "removed", None),
                errors=(401, 403, 404, 422),
                parameters=("Source",),
                tag="inbound secrets",
            ),
        },
        "/api/audit": {
            "get": _operation(
                "listAudit",
                "The tenant's audit log, newest first",
                ok=(200, "a page of audit entries", "AuditPage"),
                errors=_READ,
                parameters=("ResourceTypeFilter", "ResourceIdFilter", *_PAGE),
                tag="audit",
            ),
        },
        **_record_paths(),
        **_gallery_paths(names),
        **_run_paths(),
        OPENAPI_PATH: {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document (no API key needed)",
                "tags": ["meta"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "the OpenAPI document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


def _record_paths() -> dict[str, Schema]:
    """List and get of each kind of product record (``PRODUCT_RESOURCES``)."""
    paths: dict[str, Schema] = {}
    for resource in PRODUCT_RESOURCES:
        name = resource.schema
        paths[f"/api/{resource.path}"] = {
            "get": _operation(
                f"list{name}s",
                f"{resource.description} Newest first.",
                ok=(200, f"a page of {resource.noun}s", f"{name}Page"),
                errors=(*_READ, 503),
                parameters=(
                    *(record_filter_name(resource, f.parameter) for f in resource.filters),
                    *_PAGE,
                ),
                tag="records",
            )
        }
        paths[f"/api/{resource.path}/{{record_id}}"] = {
            "get": _operation(
                f"get{name}",
                f"One {resource.noun}",
                ok=(200, f"the {resource.noun}", name),
                errors=(*_READ_ONE, 503),
                parameters=("RecordId",),
                tag="records",
            )
        }
    return paths


def _gallery_paths(names: dict[str, str]) -> dict[str, Schema]:
    """The templates gallery (seed 003): list, read, use, publish."""
    use = _operation(
        "useTemplate",
        "Copy the template's workflow into the tenant as a new draft (its usage count goes up "
        "by one); the body, optional, may rename it",
        ok=(201, "the new workflow; Location names it", "Workflow"),
        errors=(400, 401, 403, 404, 413, 422),
        parameters=("TemplateSlug",),
        body=names["TemplateUse:validation"],
        tag="templates",
    )
    use["requestBody"]["required"] = False
    return {
        "/api/templates": {
            "get": _operation(
                "listTemplates",
                "The gallery: system templates and this tenant's own, featured first, each with "
                "its usage count",
                ok=(200, "a page of templates", "GalleryTemplatePage"),
                errors=_READ,
                parameters=("CategoryFilter", "ScopeFilter", *_PAGE),
                tag="templates",
            ),
            "post": _operation(
                "publishTemplate",
                "Publish one of the tenant's workflows as a template only this tenant sees",
                ok=(201, "the template; Location names it", "GalleryTemplate"),
                errors=(*_WRITE, 409),
                body=names["TemplatePublish:validation"],
                tag="templates",
            ),
        },
        "/api/templates/{slug}": {
            "get": _operation(
                "getTemplate",
                "One template of the gallery",
                ok=(200, "the template", "GalleryTemplate"),
                errors=_READ_ONE,
                parameters=("TemplateSlug",),
                tag="templates",
            ),
        },
        "/api/templates/{slug}/use": {"post": use},
    }


def _run_paths() -> dict[str, Schema]:
    """Run now, the runs page across workflows, and a workflow's stats strip."""
    return {
        "/api/workflows/{workflow_id}/run": {
            "post": _operation(
                "runWorkflow",
                "Run now: the workflow at its current version, for `data`, as a "
                "`workflow.triggered` event; answers with the execution id at once",
                ok=(202, "queued; Location names the execution", "RunAccepted"),
                errors=(400, 401, 403, 404, 409, 413, 422),
                parameters=("WorkflowId",),
                body="RunRequest",
                tag="executions",
            ),
        },
        "/api/workflows/{workflow_id}/stats": {
            "get": _operation(
                "getWorkflowStats",
                "Runs, success rate, median and p95 duration, throttled and failed counts of "
                "the window, and the last run",
                ok=(200, "the workflow's figures", "WorkflowStats"),
                errors=(*_READ_ONE, 503),
                parameters=("WorkflowId", "StatsWindow"),
                tag="executions",
            ),
        },
        "/api/executions": {
            "get": _operation(
                "listExecutions",
                "Runs across the tenant's workflows, newest first",
                ok=(200, "a page of runs", "RunPage"),
                errors=(*_READ, 503),
                parameters=(
                    "ExecutionStatusFilter",
                    "RunWorkflowFilter",
                    "RunTriggerFilter",
                    "RunFrom",
                    "RunTo",
                    *_PAGE,
                ),
                tag="executions",
            ),
        },
    }


@functools.cache
def openapi_document(page_size_max: int) -> Schema:
    """The whole document; computed once per process (the models do not change at run time)."""
    defs, names = model_schemas()
    schemas = {**defs, **workflow_schemas(defs, names), **api_schemas(), **record_schemas()}
    schemas |= gallery_schemas()
    schemas |= hook_schemas()
    schemas |= run_schemas()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Workflow automation config API",
            "version": "1",
            "description": (
                "Workflows (trigger → conditions → actions), their versions and executions, the "
                "records their actions wrote (tasks, activities, notifications, draft offers, "
                "assignments, tags, records), and the tenant's settings, email templates, inbound "
                "secrets and audit log. Every request "
                "except this document needs `Authorization: Bearer <API key>`; a key sees only "
                'its tenant. Errors are `{"error": {"code", "message", "details"}}`.'
            ),
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "security": [{"bearerAuth": []}],
        "paths": _paths(names),
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "an API key"}
            },
            "parameters": parameters(page_size_max) | gallery_parameters() | run_parameters(),
            "schemas": schemas,
        },
    }


async def serve(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(api(request).page_size_max))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(OPENAPI_PATH, serve)
