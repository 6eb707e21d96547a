"""Performing the actions that write the product's own records, in the executor's tables.

``create_task``, ``create_task_series``, ``assign_to_user``, ``update_record``, ``create_record``,
``tag``, ``log_activity``, ``in_app_notification`` and ``create_draft_offer`` each write rows
whose ids derive from (execution id, step index[, item]), so a redelivered step writes nothing
new and reports the rows it wrote the first time. A step's rows are written in one transaction.
The config API serves them through the ``executor_published`` views.

Who ``assignTo`` names is ``domain.resolve_assignee``; which record fields a workflow may set is
``shared.workflows.records`` (checked again here, for definitions saved before a field left it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from services.executor.domain import (
    StepOutcome,
    offer_terms,
    resolve_assignee,
    stable_id,
    step_key,
)
from shared.contracts import ExecutionRequest
from shared.postgres import Pool, Queries
from shared.workflows import RenderedAction, render_action
from shared.workflows.actions import (
    Action,
    AssignToUserAction,
    CreateDraftOfferAction,
    CreateRecordAction,
    CreateTaskAction,
    CreateTaskSeriesAction,
    InAppNotificationAction,
    LogActivityAction,
    TagAction,
    UpdateRecordAction,
)
from shared.workflows.records import record_field_refusals

_QUERIES = Queries.load("services.executor")

RECORD_ACTION_TYPES = (
    "create_task",
    "create_task_series",
    "assign_to_user",
    "update_record",
    "create_record",
    "tag",
    "log_activity",
    "in_app_notification",
    "create_draft_offer",
)


def _due_date(value: Any) -> date | None:
    """A rendered ``dueDate`` (an ISO date or datetime) as the calendar date it falls on."""
    if not isinstance(value, str):
        return None
    try:
        return (
            date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value).date()
        )
    except ValueError:
        return None


def _no_subject(what: str) -> StepOutcome:
    return StepOutcome.failed(
        "no_subject", f"the event has no subject to {what}: it names no account", attempts=0
    )


def _succeeded(result: Mapping[str, Any], rendered: RenderedAction) -> StepOutcome:
    request: dict[str, Any] = {}
    if rendered.missing:
        request["missingVariables"] = rendered.missing
    if rendered.unresolved_dates:
        request["unresolvedDates"] = rendered.unresolved_dates
    return StepOutcome(status="succeeded", attempts=1, request=request, result=result)


class ProductRecords:
    """Performs every action that writes the product's own records (``RECORD_ACTION_TYPES``)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._performers: dict[type[Any], Callable[..., Awaitable[StepOutcome]]] = {
            CreateTaskAction: self._create_task,
            CreateTaskSeriesAction: self._create_task_series,
            AssignToUserAction: self._assign,
            UpdateRecordAction: self._write_record,
            CreateRecordAction: self._write_record,
            TagAction: self._tag,
            LogActivityAction: self._log_activity,
            InAppNotificationAction: self._notify,
            CreateDraftOfferAction: self._create_draft_offer,
        }

    async def perform(
        self, request: ExecutionRequest, step_index: int, action: Action
    ) -> StepOutcome:
        perform = self._performers.get(type(action))
        if perform is None:
            raise TypeError(f"not a product record action: {action.type!r}")
        rendered = render_action(action, request.event.data, datetime.now(UTC))
        return await perform(request, step_index, action, rendered)

    def _row(self, request: ExecutionRequest, step_index: int) -> tuple[str, str, str, int]:
        return request.tenant_id, request.workflow_id, request.execution_id, step_index

    async def _create_task(
        self,
        request: ExecutionRequest,
        step_index: int,
        action: CreateTaskAction,
        rendered: RenderedAction,
    ) -> StepOutcome:
        task = await self._insert_task(request, step_index, 0, rendered.fields, action.priority)
        return _succeeded(task, rendered)

    async def _create_task_series(
        self,
        request: ExecutionRequest,
        step_index: int,
        action: CreateTaskSeriesAction,
        rendered: RenderedAction,
    ) -> StepOutcome:
        series_assignee = rendered.fields.get("assignTo")
        tasks = []
        async with self._pool.acquire() as connection, connection.transaction():
            for index, (task, written) in enumerate(
                zip(action.tasks, rendered.fields["tasks"], strict=True)
            ):
                fields = {"assignTo": series_assignee, **written}
                tasks.append(
                    await self._insert_task(
                        request, step_index, index, fields, task.priority, connection=connection
                    )
                )
        return _succeeded({"tasks": tasks}, rendered)

    async def _insert_task(
        self,
        request: ExecutionRequest,
        step_index: int,
        item: int,
        fields: Mapping[str, Any],
        priority: str,
        connection: Any = None,
    ) -> dict[str, Any]:
        assign_to = str(fields["assignTo"])
        db = connection if connection is not None else self._pool
        tenant, workflow, execution, step = self._row(request, step_index)
        row = await db.fetchrow(
            _QUERIES.insert_task,
            stable_id("task", execution, step, item),
            tenant,
            workflow,
            execution,
            step,
            item,
            request.event.subject,
            str(fields["title"]),
            fields.get("description"),
            resolve_assignee(assign_to, request.event.data),
            assign_to,
            _due_date(fields.get("dueDate")),
            priority,
            fields.get("project"),
        )
        if row is None:
            raise RuntimeError("a task row is neither inserted nor found")
        due = row["due_date"]
        return {
            "taskId": row["id"],
            "assignee": row["assignee"],
            "dueDate": due.isoformat() if due is not None else None,
        }

    async def _assign(
        self,
        request: ExecutionRequest,
        step_index: int,
        action: AssignToUserAction,
        rendered: RenderedAction,
    ) -> StepOutcome:
        subject = request.event.subject
        if subject is None:
            return _no_subject("assign")
        assign_to = str(rendered.fields["assignTo"])
        assignee = resolve_assignee(assign_to, request.event.data)
        tenant, workflow, execution, step = self._row(request, step_index)
        assignment = stable_id("asg", execution, step)
        await self._pool.execute(
            _QUERIES.insert_assignment,
            assignment,
            tenant,
            workflow,
            execution,
            step,
            subject,
            assignee,
            assign_to,
        )
        return _succeeded(
            {"assignmentId": assignment, "subject": subject, "assignee": assignee}, rendered
        )

    async def _write_record(
        self,
        request: ExecutionRequest,
        step_index: int,
        action: UpdateRecordAction | CreateRecordAction,
        rendered: RenderedAction,
    ) -> StepOutcome:
        refusals = record_field_refusals(action)
        if refusals:
            refusal = refusals[0]
            return StepOutcome.failed(
                "field_not_allowed", f"{refusal.path}: {refusal.message}", attempts=0
            )
        tenant, workflow, execution, step = self._row(request, step_index)
        creating = isinstance(action, CreateRecordAction)
        if creating:
            key: str | None = step_key(execution, step)
        else:
            given = rendered.fields.get("recordId")
            key = str(given).strip() if given is not None else request.event.subject
        if not key:
            return StepOutcome.failed(
                "no_record",
                "the action has no 'recordId' and the event no subject: no record to update",
                attempts=0,
            )
        fields: dict[str, Any] = rendered.fields["mapping"]
        record = stable_id("rec", tenant, action.record_type, key)
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(
                _QUERIES.ensure_record,
                record,
                tenant,
                action.record_type,
                key,
                fields if creating else {},
            )
            change = await connection.fetchval(
                _QUERIES.insert_record_change,
                execution,
                step,
                tenant,
                workflow,
                record,
                "created" if creating else "updated",
                fields,
            )
            if change == "updated":
                await connection.execute(_QUERIES.apply_record_change, record, tenant, fields)
        return _succeeded(
            {
                "recordId": record,
                "recordType": action.record_type,
                "recordKey": key,
                "fields": sorted(fields),
            },
            rendered,
        )

    async def _tag(
        self,
        request: ExecutionRequest,
        step_index: int,
        action: TagAction,
        rendered: RenderedAction,
    ) -> StepOutcome:
        subject = request.event.subject
        if subject is None:
            return _no_subject("tag")
        tenant, workflow, execution, step = self._row(request, step_index)
        tags = list(dict.fromkeys(str(tag).strip() for tag in rendered.fields["tags"]))
        added: list[str] = []
        existing: list[str] = []
        async with self._pool.acquire() as connection, connection.transaction():
            for tag in (tag for tag in tags if tag):
                row = await connection.fetchrow(
                    _QUERIES.insert_tag,
                    stable_id("tag", tenant, subject, tag),
                    tenant,
                    subject,
                    tag,
                    workflow,
                    execution,
                    step,
                )
                mine = row is not None and (row["execution_id"], row["step_index"]) == (
                    execution,
                    step,
                )
                (added if mine else existing).append(tag)
        return _succeeded({"subject": subject, "added": added, "existing": existing}, rendered)

    async def _log_activity(
        self,
        request: ExecutionRequest,
        step_index: int,
        action: LogActivityAction,
        rendered: RenderedAction,
    ) -> StepOutcome:
        tenant, workflow, execution, step = self._row(request, step_index)
        activity = stable_id("act", execution, step)
        await self._pool.execute(
            _QUERIES.insert_activity,
            activity,
            tenant,
            workflow,
            execution,
            step,
            request.event.subject,
            action.activity_type,
            str(rendered.fields["subject"]),
            rendered.fields.get("body"),
        )
        return _succeeded({"activityId": activity}, rendered)

    async def _notify(
        self,
        request: ExecutionRequest,
        step_index: int,
        action: InAppNotificationAction,
        rendered: RenderedAction,
    ) -> StepOutcome:
        tenant, workflow, execution, step = self._row(request, step_index)
        notified = []
        async with self._pool.acquire() as connection, connection.transaction():
            for index, reference in enumerate(rendered.fields["to"]):
                recipient = resolve_assignee(str(reference), request.event.data)
                notification = stable_id("ntf", execution, step, index)
                await connection.execute(
                    _QUERIES.insert_notification,
                    notification,
                    tenant,
                    workflow,
                    execution,
                    step,
                    index,
                    request.event.subject,
                    recipient,
                    rendered.fields.get("title"),
                    str(rendered.fields["message"]),
                )
                notified.append({"notificationId": notification, "recipient": recipient})
        return _succeeded({"notifications": notified}, rendered)

    async def _create_draft_offer(
        self,
        request: ExecutionRequest,
        step_index: int,
        action: CreateDraftOfferAction,
        rendered: RenderedAction,
    ) -> StepOutcome:
        tenant, workflow, execution, step = self._row(request, step_index)
        terms = offer_terms(
            action.based_on,
            action.adjustments.model_dump(exclude_none=True),
            rendered.fields.get("name"),
            request.event.data,
        )
        offer = stable_id("dof", execution, step)
        await self._pool.execute(
            _QUERIES.insert_draft_offer,
            offer,
            tenant,
            workflow,
            execution,
            step,
            request.event.subject,
            terms.based_on,
            terms.source_id,
            terms.name,
            terms.customer_name,
            terms.product_name,
            terms.duration_months,
            terms.discount_percent,
            terms.base_value,
            terms.value,
        )
        return _succeeded(
            {"draftOfferId": offer, "name": terms.name, "value": terms.value}, rendered
        )
