"""Inbound hooks of ``webhook.received`` workflows: issue or rotate the token, show the status."""

from __future__ import annotations

from typing import Any, Protocol

from services.config_api.domain.hooks import (
    HOOK_TRIGGER,
    NO_HOOK,
    TOKEN_PREFIX_LENGTH,
    HookStatus,
    IssuedHook,
)
from shared import tenancy
from shared.tenancy import Principal


class WorkflowHookRepository(Protocol):
    """Hooks of every tenant's workflows; every method is scoped by ``tenant_id``."""

    async def issue(
        self,
        tenant_id: str,
        workflow_id: str,
        *,
        token_hash: bytes,
        token_prefix: str,
        actor: str,
    ) -> tuple[HookStatus, bool] | None:
        """Store the token's digest as the workflow's only one (replacing an earlier token) and
        audit it, in one transaction under the workflow's row lock; the status and whether a
        token was replaced.

        Raises ``NotAHookWorkflow`` if the workflow's trigger is not ``webhook.received``.
        None if the tenant has no such workflow.
        """

    async def status(self, tenant_id: str, workflow_id: str) -> HookStatus | None:
        """The workflow's hook, if one was issued."""


async def issue_hook_token(
    hooks: WorkflowHookRepository, principal: Principal, workflow_id: str
) -> IssuedHook | None:
    """A new token for the workflow's hook: the first one, or one that replaces (and so
    invalidates) the current one. None if the tenant has no such workflow."""
    token = tenancy.new_hook_token()
    issued = await hooks.issue(
        principal.tenant_id,
        workflow_id,
        token_hash=tenancy.hash_hook_token(token),
        token_prefix=token[:TOKEN_PREFIX_LENGTH],
        actor=principal.actor,
    )
    if issued is None:
        return None
    status, rotated = issued
    return IssuedHook(principal.tenant_id, token, status, rotated)


async def hook_view(
    hooks: WorkflowHookRepository, principal: Principal, workflow_id: str, trigger: str
) -> dict[str, Any] | None:
    """What a workflow's representation says about its hook: nothing (None) unless its trigger
    is ``webhook.received``; then whether a hook exists, never the token."""
    if trigger != HOOK_TRIGGER:
        return None
    status = await hooks.status(principal.tenant_id, workflow_id)
    return status.to_api() if status is not None else dict(NO_HOOK)
