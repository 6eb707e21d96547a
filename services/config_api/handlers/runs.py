"""Run now, the runs page across workflows, and a workflow's stats strip."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from services.config_api.domain import Cursor, Page, WorkflowRecord
from services.config_api.domain.runs import (
    STATS_WINDOWS,
    RunFilters,
    RunRow,
    WorkflowStats,
    parse_run,
    parse_run_filters,
    parse_window,
    plan_run,
)
from services.config_api.handlers.paging import page_of
from services.config_api.handlers.workflows import WorkflowRepository
from shared.contracts import ExecutionRequest
from shared.tenancy import Principal

Plan = Callable[[WorkflowRecord], ExecutionRequest]


class RunRepository(Protocol):
    """Manual runs and the reads across executions; every method is scoped by ``tenant_id``."""

    async def request_run(
        self, tenant_id: str, workflow_id: str, plan: Plan, *, actor: str
    ) -> ExecutionRequest | None:
        """Read the workflow at its current version (a save waits meanwhile), ask ``plan`` for
        the request, and queue it for ``executions.requested`` with its audit row in one
        transaction; returns once the broker acknowledged it, or once that took too long (the
        outbox relay then publishes it). None if there is no such workflow. ``plan`` may raise
        to refuse."""

    async def list_runs(
        self, tenant_id: str, filters: RunFilters, *, before: Cursor | None, limit: int
    ) -> list[RunRow]:
        """Newest first, those before ``before`` when given."""

    async def stats(
        self, tenant_id: str, workflow_id: str, *, window: str, since: datetime, until: datetime
    ) -> WorkflowStats:
        """The workflow's runs started in ``[since, until)``, and its last run ever."""


async def run_workflow(
    runs: RunRepository,
    principal: Principal,
    workflow_id: str,
    body: object,
    *,
    max_data_bytes: int,
    now: datetime,
) -> ExecutionRequest | None:
    """Queue a manual run of the workflow's current version; None when the tenant has no such
    workflow. Raises ``InvalidInput``, ``DataTooLarge``, ``NotRunnable``, ``ConditionsNotMet``."""
    run = parse_run(body, max_data_bytes=max_data_bytes)

    def plan(record: WorkflowRecord) -> ExecutionRequest:
        return plan_run(record, run, actor=principal.actor, now=now)

    return await runs.request_run(principal.tenant_id, workflow_id, plan, actor=principal.actor)


async def list_runs(
    runs: RunRepository,
    principal: Principal,
    *,
    status: str | None,
    workflow: str | None,
    trigger: str | None,
    since: str | None,
    until: str | None,
    cursor: str | None,
    limit: int,
) -> Page:
    filters = parse_run_filters(
        status=status, workflow=workflow, trigger=trigger, since=since, until=until
    )
    before = Cursor.decode(cursor) if cursor else None
    rows = await runs.list_runs(principal.tenant_id, filters, before=before, limit=limit + 1)
    return page_of(rows, limit, lambda last: Cursor(last.created_at, last.id).encode())


async def workflow_stats(
    runs: RunRepository,
    workflows: WorkflowRepository,
    principal: Principal,
    workflow_id: str,
    *,
    window: str | None,
    now: datetime,
) -> WorkflowStats | None:
    """None if the tenant never had the workflow (a deleted workflow's stats stay readable)."""
    chosen = parse_window(window)
    if not await workflows.known(principal.tenant_id, workflow_id):
        return None
    span: timedelta = STATS_WINDOWS[chosen]
    return await runs.stats(
        principal.tenant_id, workflow_id, window=chosen, since=now - span, until=now
    )
