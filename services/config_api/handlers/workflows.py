"""Workflows: create, read, list, partial update, delete, duplicate, version history, restore."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from services.config_api.domain import (
    ChainNode,
    Cursor,
    InvalidInput,
    Page,
    PositionCursor,
    Precondition,
    Revision,
    SavePolicy,
    VersionRecord,
    WorkflowRecord,
    check_chain,
    check_definition,
    dry_run,
    duplicate_definition,
    merge_patch,
    new_workflow_id,
    parse_definition,
    parse_dry_run,
    parse_if_match,
    parse_patch,
    stored_definition,
)
from services.config_api.handlers.paging import page_of
from shared.contracts import WorkflowDefinition
from shared.tenancy import Principal

WORKFLOW_STATUSES = frozenset({"draft", "active", "paused", "archived"})
MAX_VERSION = 2**31 - 1
"""Versions are PostgreSQL ``int``: a larger number names no version."""

Decide = Callable[[WorkflowRecord], Revision | None]


class WorkflowRepository(Protocol):
    """Workflows of every tenant; every method is scoped by ``tenant_id``.

    Every change writes, in one transaction: the workflow row, an immutable version row, the
    changelog record in the outbox, and an audit row.
    """

    async def create(
        self,
        *,
        workflow_id: str,
        tenant_id: str,
        definition: WorkflowDefinition,
        actor: str,
        action: str = "create",
        note: dict[str, Any] | None = None,
    ) -> WorkflowRecord:
        """Store version 1; ``action``/``note`` are what the audit row says about it."""

    async def get(self, tenant_id: str, workflow_id: str) -> WorkflowRecord | None: ...

    async def revise(
        self, tenant_id: str, workflow_id: str, decide: Decide, *, actor: str
    ) -> WorkflowRecord | None:
        """Lock the workflow, ask ``decide`` for its next version, store it.

        Concurrent revisions of one workflow are serialized, so their versions (and their
        changelog records) follow one another. ``decide`` may raise to abort, or return None to
        keep the current version. None if there is no such workflow.
        """

    async def delete(
        self, tenant_id: str, workflow_id: str, *, precondition: Precondition | None, actor: str
    ) -> bool:
        """Write the deletion version (no definition) and its changelog removal record, then
        delete the workflow; its versions stay. False if there is no such workflow."""

    async def known(self, tenant_id: str, workflow_id: str) -> bool:
        """Whether the tenant has, or had before deleting it, this workflow."""

    async def chain_graph(self, tenant_id: str) -> dict[str, ChainNode]:
        """The tenant's active workflows that trigger others or are triggered by them."""

    async def versions(
        self, tenant_id: str, workflow_id: str, *, before: int | None, limit: int
    ) -> list[VersionRecord]:
        """Versions newest first, those below ``before`` when given."""

    async def version(
        self, tenant_id: str, workflow_id: str, number: int
    ) -> VersionRecord | None: ...

    # Last: a method named `list` shadows the builtin in the annotations after it.
    async def list(
        self,
        tenant_id: str,
        *,
        status: str | None,
        trigger: str | None,
        after: Cursor | None,
        limit: int,
    ) -> list[WorkflowRecord]: ...


async def create_workflow(
    repository: WorkflowRepository,
    principal: Principal,
    body: object,
    policy: SavePolicy,
) -> WorkflowRecord:
    """A new workflow, version 1. Its id is new, so no other workflow can trigger it yet: it
    cannot close a chain cycle."""
    definition = parse_definition(body)
    check_definition(definition, policy)
    return await repository.create(
        workflow_id=new_workflow_id(),
        tenant_id=principal.tenant_id,
        definition=definition,
        actor=principal.actor,
    )


async def get_workflow(
    repository: WorkflowRepository, principal: Principal, workflow_id: str
) -> WorkflowRecord | None:
    return await repository.get(principal.tenant_id, workflow_id)


async def list_workflows(
    repository: WorkflowRepository,
    principal: Principal,
    *,
    status: str | None,
    trigger: str | None,
    cursor: str | None,
    limit: int,
) -> Page:
    """Oldest first, filtered by status and trigger."""
    if status is not None and status not in WORKFLOW_STATUSES:
        raise InvalidInput(
            "invalid filter",
            [{"path": "query.status", "message": f"one of {sorted(WORKFLOW_STATUSES)}"}],
        )
    after = Cursor.decode(cursor) if cursor else None
    records = await repository.list(
        principal.tenant_id, status=status, trigger=trigger, after=after, limit=limit + 1
    )
    return page_of(records, limit, lambda last: Cursor(last.created_at, last.id).encode())


async def update_workflow(
    repository: WorkflowRepository,
    principal: Principal,
    workflow_id: str,
    body: object,
    policy: SavePolicy,
    *,
    if_match: str | None,
) -> WorkflowRecord | None:
    """Merge ``body`` into the current definition (top-level keys replace) as a new version.

    With a ``version`` in the body or an ``If-Match`` header that is not the current version,
    raises ``VersionConflict``. A body that changes nothing keeps the current version. The new
    version must pass ``check_definition``, and if active ``check_chain`` against the tenant's
    other active workflows (read before the row lock: two concurrent saves could each close
    half a cycle, which the executor's chain depth limit then stops). None if there is no such
    workflow.
    """
    patch = parse_patch(body)
    preconditions = [p for p in (patch.precondition, parse_if_match(if_match)) if p is not None]
    others = await repository.chain_graph(principal.tenant_id)

    def decide(current: WorkflowRecord) -> Revision | None:
        for precondition in preconditions:
            precondition.check(current.version)
        definition = parse_definition(
            merge_patch(stored_definition(current.definition), patch.fields)
        )
        if stored_definition(definition) == stored_definition(current.definition):
            return None
        check_definition(definition, policy)
        check_chain(workflow_id, definition, others)
        return Revision(definition, change="updated")

    return await repository.revise(principal.tenant_id, workflow_id, decide, actor=principal.actor)


async def delete_workflow(
    repository: WorkflowRepository,
    principal: Principal,
    workflow_id: str,
    *,
    if_match: str | None,
) -> bool:
    return await repository.delete(
        principal.tenant_id,
        workflow_id,
        precondition=parse_if_match(if_match),
        actor=principal.actor,
    )


async def duplicate_workflow(
    repository: WorkflowRepository, principal: Principal, workflow_id: str
) -> WorkflowRecord | None:
    """A new workflow (new id, version 1) copying the current definition, renamed, as a draft."""
    source = await repository.get(principal.tenant_id, workflow_id)
    if source is None:
        return None
    return await repository.create(
        workflow_id=new_workflow_id(),
        tenant_id=principal.tenant_id,
        definition=duplicate_definition(source.definition),
        actor=principal.actor,
        action="duplicate",
        note={"duplicatedFrom": {"workflowId": source.id, "version": source.version}},
    )


async def list_versions(
    repository: WorkflowRepository,
    principal: Principal,
    workflow_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> Page | None:
    """Newest first. Versions outlive a deleted workflow; None if the tenant never had it."""
    before = PositionCursor.decode(cursor, maximum=MAX_VERSION).position if cursor else None
    if not await repository.known(principal.tenant_id, workflow_id):
        return None
    records = await repository.versions(
        principal.tenant_id, workflow_id, before=before, limit=limit + 1
    )
    return page_of(records, limit, lambda last: PositionCursor(last.version).encode())


async def get_version(
    repository: WorkflowRepository, principal: Principal, workflow_id: str, number: int
) -> VersionRecord | None:
    if not 1 <= number <= MAX_VERSION:
        return None
    return await repository.version(principal.tenant_id, workflow_id, number)


async def restore_version(
    repository: WorkflowRepository,
    principal: Principal,
    workflow_id: str,
    number: int,
    policy: SavePolicy,
    *,
    if_match: str | None,
) -> WorkflowRecord | None:
    """A new version whose definition is version ``number``'s; history is never rewritten.

    Raises ``InvalidInput`` if that old definition is not valid under the current model. None if
    the workflow (deleted ones included) or the version does not exist.
    """
    old = await get_version(repository, principal, workflow_id, number)
    if old is None or old.definition is None:
        return None
    try:
        definition = parse_definition(old.definition)
    except InvalidInput as invalid:
        raise InvalidInput(
            f"version {number} is not a valid workflow any more; edit the workflow instead",
            invalid.details,
        ) from None
    precondition = parse_if_match(if_match)
    check_definition(definition, policy)
    others = await repository.chain_graph(principal.tenant_id)

    def decide(current: WorkflowRecord) -> Revision:
        if precondition is not None:
            precondition.check(current.version)
        check_chain(workflow_id, definition, others)
        return Revision(definition, change="restored", restored_from=number)

    return await repository.revise(principal.tenant_id, workflow_id, decide, actor=principal.actor)


async def test_workflow(
    repository: WorkflowRepository,
    principal: Principal,
    workflow_id: str,
    body: object,
    now: datetime,
) -> dict[str, Any] | None:
    """Dry run: each condition's result and the actions rendered, nothing performed; None when
    the tenant has no such workflow."""
    request = parse_dry_run(body)
    record = await repository.get(principal.tenant_id, workflow_id)
    if record is None:
        return None
    return dry_run(record, request.test_data, now)
