"""What a workflow must satisfy beyond its model to be saved: where its HTTP actions may go, which
record fields it may set, and that its ``trigger_workflow`` actions close no cycle.

The model (``shared.workflows``) checks what a definition says; these rules check it against the
deployment and the tenant's other workflows, so they are applied when a workflow is saved —
created, updated, restored — and not when a stored one is read.

- URLs (``webhook``, ``call_api``, ``teams``): a literal private, loopback, link-local or
  metadata address is refused (``shared.outbound``) unless the deployment allows private
  networks (``WEBHOOK_ALLOW_PRIVATE_NETWORKS``); host names are checked by the executor where
  it connects.
- Records (``update_record``, ``create_record``): only the fields ``shared.workflows.records``
  lists for the record type.
- Chains: an active workflow's ``trigger_workflow`` actions, with those of the tenant's other
  active workflows, must not lead back to it. Only an edge that can fire counts: one to an
  active workflow whose trigger is ``workflow.triggered``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.config_api.domain.inputs import InvalidInput
from shared.contracts import WorkflowDefinition
from shared.outbound import url_refusal
from shared.workflows.actions import (
    CallApiAction,
    TeamsAction,
    TriggerWorkflowAction,
    WebhookAction,
)
from shared.workflows.records import record_field_refusals

CHAINED_TRIGGER = "workflow.triggered"


@dataclass(frozen=True, slots=True)
class SavePolicy:
    """What the deployment allows a saved workflow: private network destinations or not."""

    allow_private_networks: bool = False


@dataclass(frozen=True, slots=True)
class ChainNode:
    """An active workflow as far as chaining goes: its trigger and the workflows it triggers."""

    trigger: str
    targets: tuple[str, ...]


def _action_path(index: int, action_type: str, field: str) -> str:
    # The same form as the model's own errors name (pydantic's tagged union: $.actions[0].webhook.url).
    return f"$.actions[{index}].{action_type}.{field}"


def definition_problems(definition: WorkflowDefinition, policy: SavePolicy) -> list[dict[str, str]]:
    """Every destination and record field ``definition`` may not use, by JSON path."""
    problems: list[dict[str, str]] = []
    for index, action in enumerate(definition.actions):
        if (
            isinstance(action, WebhookAction | CallApiAction | TeamsAction)
            and action.url is not None
        ):
            refusal = url_refusal(
                str(action.url), allow_private_networks=policy.allow_private_networks
            )
            if refusal is not None:
                problems.append(
                    {
                        "path": _action_path(index, action.type, "url"),
                        "message": f"{refusal}: workflows may only call public addresses",
                    }
                )
        problems.extend(
            {"path": _action_path(index, action.type, refusal.path), "message": refusal.message}
            for refusal in record_field_refusals(action)
        )
    return problems


def check_definition(definition: WorkflowDefinition, policy: SavePolicy) -> None:
    """Raise ``InvalidInput`` naming every problem ``definition_problems`` finds."""
    problems = definition_problems(definition, policy)
    if problems:
        raise InvalidInput("the workflow cannot be saved as it is", problems)


def _targets(definition: WorkflowDefinition) -> list[tuple[int, str]]:
    return [
        (index, action.workflow_id)
        for index, action in enumerate(definition.actions)
        if isinstance(action, TriggerWorkflowAction)
    ]


def chain_cycle(
    workflow_id: str, definition: WorkflowDefinition, others: Mapping[str, ChainNode]
) -> tuple[int, list[str]] | None:
    """The first cycle that saving ``definition`` as ``workflow_id`` would close among the
    active workflows ``others`` (the saved one's stored node, if any, is ignored): the index of
    the action that starts it and the workflows it passes, from ``workflow_id`` back to it.
    None when there is none, or when the saved workflow is not active."""
    if definition.status != "active":
        return None
    nodes = {key: node for key, node in others.items() if key != workflow_id}
    nodes[workflow_id] = ChainNode(
        definition.trigger, tuple(target for _, target in _targets(definition))
    )

    def fires(target: str) -> bool:
        node = nodes.get(target)
        return node is not None and node.trigger == CHAINED_TRIGGER

    for index, first in _targets(definition):
        if not fires(first):
            continue
        # Depth-first from the action's target, looking for the saved workflow again.
        stack: list[tuple[str, list[str]]] = [(first, [workflow_id, first])]
        seen: set[str] = set()
        while stack:
            current, path = stack.pop()
            if current == workflow_id:
                return index, path
            if current in seen:
                continue
            seen.add(current)
            stack.extend(
                (target, [*path, target]) for target in nodes[current].targets if fires(target)
            )
    return None


def check_chain(
    workflow_id: str, definition: WorkflowDefinition, others: Mapping[str, ChainNode]
) -> None:
    """Raise ``InvalidInput`` naming the cycle ``chain_cycle`` finds, if any."""
    found = chain_cycle(workflow_id, definition, others)
    if found is None:
        return
    index, path = found
    raise InvalidInput(
        "the workflow's trigger_workflow actions would loop",
        [
            {
                "path": _action_path(index, "trigger_workflow", "workflowId"),
                "message": "closes a cycle of active workflows: " + " → ".join(path),
            }
        ],
    )


def chain_graph(rows: Sequence[tuple[str, str, Sequence[str]]]) -> dict[str, ChainNode]:
    """The chaining graph from ``(workflow id, trigger, targets)`` rows."""
    return {workflow: ChainNode(trigger, tuple(targets)) for workflow, trigger, targets in rows}
