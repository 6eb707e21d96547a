"""What a workflow must satisfy to be saved: public destinations, whitelisted record fields, no
trigger_workflow cycle among active workflows."""

from __future__ import annotations

from typing import Any

import pytest

from services.config_api.domain import (
    ChainNode,
    InvalidInput,
    SavePolicy,
    chain_cycle,
    check_chain,
    check_definition,
)
from shared.contracts import WorkflowDefinition


def workflow(
    *actions: dict[str, Any], trigger: str = "workflow.triggered", status: str = "active"
) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate(
        {"name": "w", "trigger": trigger, "status": status, "actions": list(actions)}
    )


def chained(target: str) -> dict[str, Any]:
    return {"type": "trigger_workflow", "workflowId": target}


def problems(definition: WorkflowDefinition) -> list[dict[str, str]]:
    with pytest.raises(InvalidInput) as refused:
        check_definition(definition, SavePolicy())
    return refused.value.details


@pytest.mark.parametrize(
    ("action", "path"),
    [
        ({"type": "webhook", "url": "http://127.0.0.1:8080/hook"}, "$.actions[0].webhook.url"),
        ({"type": "webhook", "url": "http://2130706433/hook"}, "$.actions[0].webhook.url"),
        (
            {"type": "call_api", "url": "http://169.254.169.254/latest/meta-data"},
            "$.actions[0].call_api.url",
        ),
        ({"type": "call_api", "url": "http://[::ffff:10.0.0.1]/x"}, "$.actions[0].call_api.url"),
        ({"type": "teams", "url": "http://localhost/x", "message": "m"}, "$.actions[0].teams.url"),
    ],
)
def test_a_literal_private_address_is_refused_unless_private_networks_are_allowed(
    action: dict[str, Any], path: str
) -> None:
    definition = workflow(action, trigger="private_offer.accepted")
    [problem] = problems(definition)
    assert problem["path"] == path
    assert "public" in problem["message"]
    check_definition(definition, SavePolicy(allow_private_networks=True))


def test_public_urls_and_names_pass() -> None:
    check_definition(
        workflow(
            {"type": "webhook", "url": "https://hooks.example.com/x"},
            {"type": "call_api", "url": "http://8.8.8.8/x"},
        ),
        SavePolicy(),
    )


def test_record_fields_outside_the_whitelist_are_refused_by_path() -> None:
    definition = workflow(
        {
            "type": "update_record",
            "recordType": "deal",
            "mapping": {"stage": "won", "ownerId": "x"},
        },
        {"type": "create_record", "recordType": "spaceship", "mapping": {"name": "x"}},
    )
    assert [(p["path"], p["message"].split(";")[0]) for p in problems(definition)] == [
        (
            "$.actions[0].update_record.mapping.ownerId",
            "deal field 'ownerId' cannot be set by a workflow",
        ),
        ("$.actions[1].create_record.recordType", "unknown record type 'spaceship'"),
    ]


def test_a_chain_closing_back_on_the_saved_workflow_is_found_with_its_path() -> None:
    others = {
        "wf_b": ChainNode("workflow.triggered", ("wf_c",)),
        "wf_c": ChainNode("workflow.triggered", ("wf_a",)),
    }
    definition = workflow({"type": "tag", "tags": ["x"]}, chained("wf_b"))
    assert chain_cycle("wf_a", definition, others) == (1, ["wf_a", "wf_b", "wf_c", "wf_a"])
    with pytest.raises(InvalidInput) as refused:
        check_chain("wf_a", definition, others)
    [detail] = refused.value.details
    assert detail["path"] == "$.actions[1].trigger_workflow.workflowId"
    assert detail["message"].endswith("wf_a → wf_b → wf_c → wf_a")


def test_a_workflow_triggering_itself_is_a_cycle() -> None:
    assert chain_cycle("wf_a", workflow(chained("wf_a")), {}) == (0, ["wf_a", "wf_a"])


@pytest.mark.parametrize(
    ("definition", "others"),
    [
        # Not active: it runs nothing.
        (
            workflow(chained("wf_b"), status="draft"),
            {"wf_b": ChainNode("workflow.triggered", ("wf_a",))},
        ),
        # The saved workflow is not triggered by workflow.triggered: the chain cannot come back.
        (
            workflow(chained("wf_b"), trigger="private_offer.accepted"),
            {"wf_b": ChainNode("workflow.triggered", ("wf_a",))},
        ),
        # wf_b is not a workflow.triggered workflow: the chained event triggers nothing.
        (workflow(chained("wf_b")), {"wf_b": ChainNode("private_offer.accepted", ("wf_a",))}),
        # wf_b is not active (not in the graph).
        (workflow(chained("wf_b")), {}),
        # A chain that ends, and a cycle elsewhere that does not pass through wf_a.
        (
            workflow(chained("wf_b")),
            {
                "wf_b": ChainNode("workflow.triggered", ("wf_c",)),
                "wf_c": ChainNode("workflow.triggered", ("wf_b",)),
            },
        ),
    ],
)
def test_chains_that_cannot_loop_back_are_accepted(
    definition: WorkflowDefinition, others: dict[str, ChainNode]
) -> None:
    assert chain_cycle("wf_a", definition, others) is None


def test_the_saved_workflows_stored_version_is_replaced_by_the_new_one() -> None:
    others = {
        "wf_a": ChainNode("workflow.triggered", ("wf_b",)),
        "wf_b": ChainNode("workflow.triggered", ("wf_a",)),
    }
    # wf_a used to trigger wf_b; its new version no longer does.
    assert chain_cycle("wf_a", workflow({"type": "tag", "tags": ["x"]}), others) is None
