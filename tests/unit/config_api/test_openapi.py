"""The OpenAPI document describes exactly the routes the service registers, and follows the model."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from services.config_api.adapters import http
from services.config_api.adapters.http.openapi import openapi_document
from services.config_api.adapters.postgres import (
    PostgresAuditLog,
    PostgresEmailTemplates,
    PostgresExecutionReader,
    PostgresInboundSecrets,
    PostgresProductRecords,
    PostgresRuns,
    PostgresTemplateGallery,
    PostgresTenants,
    PostgresWorkflowRepository,
)
from services.config_api.adapters.postgres.hooks import PostgresWorkflowHooks
from services.config_api.domain import SavePolicy
from shared.contracts import WorkflowDefinition
from shared.tenancy import Principal


async def _nobody(_token: str) -> Principal | None:
    return None


def registered_operations() -> set[tuple[str, str]]:
    app = web.Application()
    workflows = PostgresWorkflowRepository(changes_written=asyncio.Event())
    http.add_routes(
        app,
        api=http.Api(
            workflows=workflows,
            executions=PostgresExecutionReader(),
            templates=PostgresEmailTemplates(),
            secrets=PostgresInboundSecrets(),
            audit=PostgresAuditLog(),
            records=PostgresProductRecords(),
            policy=SavePolicy(),
            tenants=PostgresTenants(),
            page_size_max=200,
            gallery=PostgresTemplateGallery(workflows),
            hooks=PostgresWorkflowHooks(),
            hooks_base_url="http://127.0.0.1:8081",
            runs=PostgresRuns(changes_written=asyncio.Event()),
        ),
        authenticate=_nobody,
    )
    operations = set()
    for route in app.router.routes():
        resource = route.resource
        if route.method == "HEAD" or resource is None:
            continue
        # aiohttp writes `{version:[0-9]+}`; OpenAPI writes `{version}`.
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", resource.canonical)
        operations.add((route.method, path))
    return operations


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    assert documented_operations(openapi_document(200)) == registered_operations()


def test_every_reference_resolves() -> None:
    document = openapi_document(200)
    text = json.dumps(document)
    for reference in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node: Any = document
        for part in reference.split("/"):
            assert part in node, reference
            node = node[part]


def test_workflow_bodies_come_from_the_model() -> None:
    schemas = openapi_document(200)["components"]["schemas"]
    model = WorkflowDefinition.model_json_schema(mode="validation")
    create = schemas["WorkflowCreate"]
    assert set(create["properties"]) == set(model["properties"]) | {"active"}
    assert create["required"] == model["required"]
    assert set(schemas["WorkflowPatch"]["properties"]) >= set(model["properties"]) | {"version"}
    assert "required" not in schemas["WorkflowPatch"]
    assert {"id", "tenantId", "version", "createdAt"} <= set(schemas["Workflow"]["required"])


def test_every_operation_answers_errors_in_the_one_shape() -> None:
    document = openapi_document(200)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            errors = {code: r for code, r in operation["responses"].items() if code >= "400"}
            if path != "/api/openapi.json":
                assert "401" in errors, (method, path)
            for response in errors.values():
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}
