"""The matcher benchmarks' workload: workflows with 1-5 conditions, AND/OR mixed, and ~1 KB events.

Deterministic for a seed. The selective values (product, customer, contract) are drawn from
universes that grow with the number of workflows, as they do when more workflows mean more
products and customers: an event then matches about the same few workflows whatever their
number — the case where the cost should grow with matches, not with workflows. Each workflow
also carries unselective rules (marketplace, value and date ranges, ``contains``, negations),
so the verification on candidates is real work. ``always`` workflows have no indexable rule at
all (only negations, or no conditions): they are candidates of every event, a number that
does not grow here.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.contracts import CloudEvent, WorkflowChange, WorkflowDefinition

TENANT = "bench"
TRIGGER = "private_offer.accepted"
MARKETPLACES = ["aws", "azure", "gcp"]
EPOCH_DAY = date(2026, 1, 1)


def _product(rng: random.Random, universe: int) -> str:
    return f"Product-{rng.randrange(universe)}"


def _customer(rng: random.Random, universe: int) -> str:
    return f"Customer {rng.randrange(universe)}"


def _contract(rng: random.Random, universe: int) -> str:
    return f"ctr-{rng.randrange(universe):08d}"


def _day(rng: random.Random) -> str:
    return (EPOCH_DAY + timedelta(days=rng.randrange(730))).isoformat()


def _selective(rng: random.Random, size: int) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.45:
        return {"field": "productName", "operator": "equals", "value": _product(rng, size // 2)}
    if roll < 0.6:
        values = [_product(rng, size // 2) for _ in range(rng.randint(2, 4))]
        return {"field": "productName", "operator": "in", "value": values}
    if roll < 0.85:
        return {"field": "customerName", "operator": "equals", "value": _customer(rng, size // 2)}
    return {"field": "contractId", "operator": "equals", "value": _contract(rng, size // 2)}


def _unselective(rng: random.Random) -> dict[str, Any]:  # noqa: PLR0911 - one shape per branch
    roll = rng.random()
    if roll < 0.2:
        return {"field": "marketplace", "operator": "equals", "value": rng.choice(MARKETPLACES)}
    if roll < 0.3:
        return {"field": "marketplace", "operator": "in", "value": rng.sample(MARKETPLACES, 2)}
    if roll < 0.5:
        return {"field": "value", "operator": "greater_than", "value": rng.randrange(0, 200_000)}
    if roll < 0.6:
        return {"field": "duration", "operator": "less_than", "value": rng.randrange(1, 60)}
    if roll < 0.7:
        return {"field": "contractEndDate", "operator": "less_than", "value": _day(rng)}
    if roll < 0.8:
        return {
            "field": "customerEmail",
            "operator": "contains",
            "value": rng.choice(["@globex", ".com", "@initech"]),
        }
    if roll < 0.9:
        return {"field": "marketplace", "operator": "not_equals", "value": rng.choice(MARKETPLACES)}
    return {"field": "offerName", "operator": "is_not_empty"}


def conditions(rng: random.Random, size: int) -> dict[str, Any]:
    """1-5 rules: one selective (or an OR of two), the rest unselective; AND/OR mixed."""
    count = rng.randint(1, 5)
    if rng.random() < 0.25:
        first: dict[str, Any] = {
            "logic": "OR",
            "rules": [_selective(rng, size), _selective(rng, size)],
        }
        count = max(count - 1, 1)
    else:
        first = _selective(rng, size)
    rest = [_unselective(rng) for _ in range(count - 1)]
    if len(rest) >= 2 and rng.random() < 0.3:
        rest = [{"logic": "OR", "rules": rest[:2]}, *rest[2:]]
    return {"logic": "AND", "rules": [first, *rest]}


def definition(name: str, rule_set: dict[str, Any] | None) -> WorkflowDefinition:
    body: dict[str, Any] = {
        "name": name,
        "trigger": TRIGGER,
        "actions": [
            {"type": "webhook", "url": f"https://hooks.example.com/{name}", "method": "POST"},
            {
                "type": "slack",
                "channel": "#deals",
                "message": "{{customerName}} accepted {{offerName}} ({{value}})",
            },
        ],
        "status": "active",
    }
    if rule_set is not None:
        body["conditions"] = rule_set
    return WorkflowDefinition.model_validate(body)


def always_conditions(rng: random.Random) -> dict[str, Any] | None:
    """No indexable rule: no conditions, or negations only."""
    if rng.random() < 0.5:
        return None
    return {
        "logic": "AND",
        "rules": [
            {"field": "marketplace", "operator": "not_equals", "value": rng.choice(MARKETPLACES)},
            {"field": "productName", "operator": "not_in", "value": ["Legacy-1", "Legacy-2"]},
        ],
    }


def record(
    workflow_id: str, version: int, workflow: WorkflowDefinition | None, tenant: str = TENANT
) -> bytes:
    change = WorkflowChange(
        tenant_id=tenant,
        workflow_id=workflow_id,
        version=version,
        workflow=workflow,
        changed_at=datetime(2026, 11, 21, tzinfo=UTC),
    )
    return change.model_dump_json(by_alias=True).encode()


def workflow_conditions(
    size: int, *, always: int = 0, seed: int = 7
) -> list[dict[str, Any] | None]:
    """The conditions of ``size`` workflows; the first ``always`` have no indexable rule."""
    rng = random.Random(seed)
    return [
        always_conditions(rng) if number < always else conditions(rng, size)
        for number in range(size)
    ]


def workflow_records(
    size: int, *, always: int = 0, seed: int = 7, tenants: tuple[str, ...] = (TENANT,)
) -> list[bytes]:
    """``size`` workflows' changelog records, spread over ``tenants`` in turn.

    Records are written as ``record`` writes them but without validating a full definition per
    workflow, so that a million are made in seconds: the index validates the rules when it
    reads them, the definition when one matches.
    """
    return [
        fast_record(f"wf_{number:07d}", rule_set, tenant=tenants[number % len(tenants)])
        for number, rule_set in enumerate(workflow_conditions(size, always=always, seed=seed))
    ]


_TEMPLATE = definition("template", None).model_dump(mode="json", by_alias=True)


def fast_record(
    workflow_id: str,
    rule_set: dict[str, Any] | None,
    *,
    version: int = 1,
    status: str = "active",
    tenant: str = TENANT,
) -> bytes:
    body = dict(_TEMPLATE, name=workflow_id, status=status, active=status == "active")
    body["actions"] = [
        dict(body["actions"][0], url=f"https://hooks.example.com/{workflow_id}"),
        body["actions"][1],
    ]
    if rule_set is not None:
        body["conditions"] = rule_set
    change = {
        "tenant_id": tenant,
        "workflow_id": workflow_id,
        "version": version,
        "workflow": body,
        "changed_at": "2026-11-21T00:00:00Z",
    }
    return json.dumps(change, separators=(",", ":")).encode()


def events(
    count: int, size: int, *, seed: int = 11, tenants: tuple[str, ...] = (TENANT,)
) -> list[CloudEvent]:
    """``count`` events of about 1 KB whose selective values come from the workflows' universes,
    for ``tenants`` in turn."""
    rng = random.Random(seed)
    made = []
    for number in range(count):
        data: dict[str, Any] = {
            "customerName": _customer(rng, size // 2),
            "customerEmail": f"buyer{number}@{rng.choice(['globex', 'initech', 'acme'])}.com",
            "offerName": rng.choice(["Annual plan", "Enterprise", ""]),
            "productName": _product(rng, size // 2),
            "contractId": _contract(rng, size // 2),
            "marketplace": rng.choice(MARKETPLACES),
            "vendor": rng.choice(MARKETPLACES),
            "value": rng.randrange(0, 250_000),
            "duration": rng.randrange(1, 60),
            "contractEndDate": _day(rng),
            "accountOwnerEmail": "owner@example.com",
            "tags": ["priority", f"region-{rng.randrange(5)}"],
            "buyer": {"id": f"buyer-{number}", "country": "US", "segment": "enterprise"},
            "notes": "Accepted through the marketplace listing; countersigned by legal. " * 8,
        }
        made.append(
            CloudEvent(
                id=f"evt_{number:08d}",
                source="aws-marketplace",
                type=TRIGGER,
                tenantid=tenants[number % len(tenants)],
                subject=f"offer-{number}",
                data=data,
            )
        )
    return made
