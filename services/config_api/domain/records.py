"""The product's own records as the API shows them: what workflows' actions wrote (tasks,
activities, notifications, draft offers, owner assignments, tags, typed records).

The executor writes them and publishes them in the ``executor_published`` views; the config API
lists (newest first, filtered) and gets them, read-only, each tenant seeing only its own.
``PRODUCT_RESOURCES`` describes each kind once: its path, its filters, the fields it shows;
routes, queries and the OpenAPI document all follow from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.config_api.domain.pages import Cursor


class NotPublished(Exception):
    """A view another service publishes does not exist yet: that service has not migrated."""

    def __init__(self, owner: str) -> None:
        super().__init__(
            f"this data is not available yet: the {owner} has not published it "
            "(its migrations have not run)"
        )
        self.owner = owner


@dataclass(frozen=True, slots=True)
class Filter:
    """A query parameter of a list (``assignee``) and the field it matches (``assignee``)."""

    parameter: str
    description: str
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ProductResource:
    """One kind of product record: ``/api/{path}`` and ``/api/{path}/{id}``.

    ``fields`` are the view's columns the API shows (camelCase in JSON, in this order);
    ``filters`` the list's query parameters, in the order the list query takes them.
    """

    path: str
    noun: str
    schema: str
    description: str
    fields: tuple[tuple[str, str], ...]
    filters: tuple[Filter, ...]

    @property
    def list_query(self) -> str:
        return f"list_{self.path.replace('-', '_')}"

    @property
    def get_query(self) -> str:
        return f"get_{self.noun.replace(' ', '_')}"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _shown(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """One row of a product record view."""

    resource: ProductResource
    row: Mapping[str, Any]

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.row["created_at"], self.row["id"])

    def to_api(self) -> dict[str, Any]:
        return {camel(column): _shown(self.row[column]) for column, _ in self.resource.fields}


_ORIGIN = (
    ("workflow_id", "string"),
    ("execution_id", "string"),
    ("step_index", "integer"),
)
_WORKFLOW_FILTERS = (
    Filter("workflowId", "only those a step of this workflow wrote"),
    Filter("executionId", "only those this execution wrote"),
)

PRODUCT_RESOURCES: tuple[ProductResource, ...] = (
    ProductResource(
        path="tasks",
        noun="task",
        schema="Task",
        description="Tasks that create_task and create_task_series made.",
        fields=(
            ("id", "string"),
            *_ORIGIN,
            ("item_index", "integer"),
            ("subject", "string?"),
            ("title", "string"),
            ("description", "string?"),
            ("assignee", "string"),
            ("assign_to", "string"),
            ("due_date", "date?"),
            ("priority", "string"),
            ("project", "string?"),
            ("status", "string"),
            ("created_at", "date-time"),
        ),
        filters=(
            Filter("status", "only tasks of this status", ("open", "done", "cancelled")),
            Filter("assignee", "only tasks of this assignee (an e-mail, a user id, role:<name>)"),
            Filter("priority", "only tasks of this priority", ("low", "medium", "high", "urgent")),
            Filter("subject", "only tasks about this subject (the event's account)"),
            *_WORKFLOW_FILTERS,
        ),
    ),
    ProductResource(
        path="activities",
        noun="activity",
        schema="Activity",
        description="Activities that log_activity recorded.",
        fields=(
            ("id", "string"),
            *_ORIGIN,
            ("subject", "string?"),
            ("activity_type", "string"),
            ("title", "string"),
            ("body", "string?"),
            ("created_at", "date-time"),
        ),
        filters=(
            Filter("subject", "only activities about this subject"),
            Filter(
                "activityType",
                "only activities of this type",
                ("note", "call", "email", "meeting", "task"),
            ),
            *_WORKFLOW_FILTERS,
        ),
    ),
    ProductResource(
        path="notifications",
        noun="notification",
        schema="Notification",
        description="In-app notifications that in_app_notification sent, one per recipient.",
        fields=(
            ("id", "string"),
            *_ORIGIN,
            ("item_index", "integer"),
            ("subject", "string?"),
            ("recipient", "string"),
            ("title", "string?"),
            ("message", "string"),
            ("read_at", "date-time?"),
            ("created_at", "date-time"),
        ),
        filters=(
            Filter("recipient", "only notifications for this recipient"),
            Filter("subject", "only notifications about this subject"),
            *_WORKFLOW_FILTERS,
        ),
    ),
    ProductResource(
        path="draft-offers",
        noun="draft offer",
        schema="DraftOffer",
        description="Draft private offers that create_draft_offer prepared.",
        fields=(
            ("id", "string"),
            *_ORIGIN,
            ("subject", "string?"),
            ("based_on", "string"),
            ("source_id", "string?"),
            ("name", "string"),
            ("customer_name", "string?"),
            ("product_name", "string?"),
            ("duration_months", "integer?"),
            ("discount_percent", "number"),
            ("base_value", "number?"),
            ("value", "number?"),
            ("status", "string"),
            ("created_at", "date-time"),
        ),
        filters=(
            Filter("status", "only draft offers of this status"),
            Filter("subject", "only draft offers about this subject"),
            *_WORKFLOW_FILTERS,
        ),
    ),
    ProductResource(
        path="assignments",
        noun="assignment",
        schema="Assignment",
        description="Owner assignments that assign_to_user made; a subject's latest one wins.",
        fields=(
            ("id", "string"),
            *_ORIGIN,
            ("subject", "string"),
            ("assignee", "string"),
            ("assign_to", "string"),
            ("created_at", "date-time"),
        ),
        filters=(
            Filter("subject", "only assignments of this subject"),
            Filter("assignee", "only assignments to this assignee"),
            *_WORKFLOW_FILTERS,
        ),
    ),
    ProductResource(
        path="tags",
        noun="tag",
        schema="Tag",
        description="Tags that tag put on subjects, once per (subject, tag).",
        fields=(
            ("id", "string"),
            ("subject", "string"),
            ("tag", "string"),
            *_ORIGIN,
            ("created_at", "date-time"),
        ),
        filters=(
            Filter("subject", "only the tags of this subject"),
            Filter("tag", "only this tag"),
            *_WORKFLOW_FILTERS[:1],
        ),
    ),
    ProductResource(
        path="records",
        noun="record",
        schema="ProductRecord",
        description="Typed records that update_record and create_record wrote (whitelisted "
        "fields only), with the execution that last changed each.",
        fields=(
            ("id", "string"),
            ("record_type", "string"),
            ("record_key", "string"),
            ("fields", "object"),
            ("created_at", "date-time"),
            ("updated_at", "date-time"),
            ("last_execution_id", "string?"),
            ("last_workflow_id", "string?"),
        ),
        filters=(
            Filter("recordType", "only records of this type"),
            Filter("recordKey", "only the record with this key (its own id, or the subject)"),
        ),
    ),
)
"""Every kind of product record the API serves, in the order the OpenAPI document lists them."""
