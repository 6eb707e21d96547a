"""Inbound hooks of ``webhook.received`` workflows, as the API shows them: never their tokens.

A hook is a workflow's own URL on ingest, ``POST /v1/hooks/{tenant}/{token}``. The token is
shown once, in the answer that issues it (the first time, or a rotation); afterwards the API
shows only that a hook exists, the token's first characters and when it was issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from services.config_api.domain.inputs import Conflict

HOOK_TRIGGER: Final = "webhook.received"
TOKEN_PREFIX_LENGTH: Final = 8
"""How much of a token is kept in clear (``wfh_`` and 4 of its 43 random characters)."""


class NotAHookWorkflow(Conflict):
    """A hook token was asked for a workflow whose trigger is not ``webhook.received``."""

    code = "not_a_webhook_trigger"


def not_a_hook_workflow(trigger: str) -> NotAHookWorkflow:
    return NotAHookWorkflow(
        f"only a workflow triggered by {HOOK_TRIGGER!r} has an inbound hook",
        [{"path": "$.trigger", "message": f"is {trigger!r}; set it to {HOOK_TRIGGER!r} first"}],
    )


def hook_path(tenant_id: str, token: str) -> str:
    """The path of a hook on ingest."""
    return f"/v1/hooks/{tenant_id}/{token}"


@dataclass(frozen=True, slots=True)
class HookStatus:
    """That a workflow's hook exists, and since when; everything shown about it after issue."""

    workflow_id: str
    token_prefix: str
    created_at: datetime
    rotated_at: datetime

    def to_api(self) -> dict[str, Any]:
        return {
            "exists": True,
            "tokenPrefix": self.token_prefix,
            "createdAt": self.created_at.isoformat(),
            "rotatedAt": self.rotated_at.isoformat(),
        }

    def audited(self) -> dict[str, Any]:
        """How the audit log shows the hook (the prefix tells tokens apart; no token)."""
        return {"tokenPrefix": self.token_prefix, "rotatedAt": self.rotated_at.isoformat()}


NO_HOOK: Final[dict[str, Any]] = {"exists": False}
"""What a ``webhook.received`` workflow without a hook shows."""


@dataclass(frozen=True, slots=True)
class IssuedHook:
    """A token just issued: ``token`` is visible this once and never again.

    ``rotated`` tells whether it replaced an earlier token (which stopped working).
    """

    tenant_id: str
    token: str
    status: HookStatus
    rotated: bool

    def to_api(self, base_url: str) -> dict[str, Any]:
        path = hook_path(self.tenant_id, self.token)
        return {
            "workflowId": self.status.workflow_id,
            "url": base_url.rstrip("/") + path,
            "path": path,
            "token": self.token,
            "rotated": self.rotated,
            **self.status.to_api(),
        }
