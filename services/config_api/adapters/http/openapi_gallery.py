"""The templates gallery's part of the OpenAPI document: its schemas and parameters."""

from __future__ import annotations

from services.config_api.adapters.http.openapi_components import (
    STRING,
    TIMESTAMP,
    Schema,
    obj,
    page,
)
from services.config_api.domain import CATEGORIES, SCOPES
from services.config_api.domain.gallery import SLUG_PATTERN


def gallery_schemas() -> dict[str, Schema]:
    template = obj(
        {
            "slug": {"type": "string", "pattern": SLUG_PATTERN},
            "name": STRING,
            "description": STRING,
            "category": {"type": "string", "enum": list(CATEGORIES)},
            "featured": {"type": "boolean", "description": "featured templates are listed first"},
            "scope": {
                "type": "string",
                "enum": list(SCOPES),
                "description": "system: shipped with the product; tenant: published by this "
                "tenant, visible to it alone",
            },
            "usageCount": {
                "type": "integer",
                "minimum": 0,
                "description": "how many workflows were made from it (a system template's: by "
                "every tenant)",
            },
            "workflow": {
                "type": "object",
                "description": "the workflow definition a use copies, without status",
            },
            "sampleEvent": {
                "type": ["object", "null"],
                "description": "an event of the workflow's trigger (`type`, `subject`, `data`) "
                "to show and test it with",
            },
            "sourceWorkflowId": {
                "type": ["string", "null"],
                "description": "a tenant template: the workflow it was published from",
            },
            "createdAt": TIMESTAMP,
            "updatedAt": TIMESTAMP,
            "createdBy": STRING,
        }
    )
    template["description"] = "A template of the gallery (seed 003)."
    return {"GalleryTemplate": template, "GalleryTemplatePage": page("GalleryTemplate")}


def gallery_parameters() -> dict[str, Schema]:
    return {
        "TemplateSlug": {
            "name": "slug",
            "in": "path",
            "required": True,
            "schema": STRING,
            "description": "a template's slug (`high-value-deal-alert`)",
        },
        "CategoryFilter": {
            "name": "category",
            "in": "query",
            "schema": {"type": "string", "enum": list(CATEGORIES)},
            "description": "only templates of this category",
        },
        "ScopeFilter": {
            "name": "scope",
            "in": "query",
            "schema": {"type": "string", "enum": list(SCOPES)},
            "description": "only system templates, or only this tenant's own",
        },
    }
