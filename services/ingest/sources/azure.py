"""Azure Marketplace: SaaS fulfillment webhook operations, current and older payload versions.

Pure: no I/O. The current payload (fulfillment API v2, 2021 on) carries ``operationRequestSource``
and the whole ``subscription``; the older ones are flat (2019: ``publisherId``/``offerId``/
``planId``/``quantity``/``status``; 2018: actions ``Subscribe``/``Activate``/``Delete``/``Update``).
Both are read by the same fields; what the older ones lack is simply absent from ``data``. The
mapping is documented in ``docs/sources.md``.
"""

from __future__ import annotations

from typing import Any, Final

from services.ingest.sources.base import Fields, Intake, envelope, timestamp, unmappable
from shared.contracts import TriggerType

SOURCE: Final = "azure-marketplace"
ACTIONS: Final[dict[str, tuple[TriggerType, str | None]]] = {
    "ChangePlan": ("customer.updated", "plan"),
    "ChangeQuantity": ("customer.updated", "quantity"),
    "Suspend": ("customer.updated", "suspended"),
    "Reinstate": ("customer.updated", "reinstated"),
    "Renew": ("contract.renewed", None),
    "Unsubscribe": ("contract.cancelled", None),
    # Older payload versions (fulfillment API v1 webhooks).
    "Subscribe": ("contract.created", None),
    "Activate": ("contract.created", None),
    "Update": ("customer.updated", "plan"),
    "Delete": ("contract.cancelled", None),
}


def parse(body: object, *, tenant_id: str, max_events: int) -> Intake:
    """One webhook call → one envelope; ``Rejected`` names the field at fault."""
    operation = Fields(body, "$")
    operation_id = operation.require_text("id")
    action = operation.require_text("action")
    if action not in ACTIONS:
        raise unmappable("$.action", action, list(ACTIONS))
    subscription_id = operation.require_text("subscriptionId")
    trigger, change = ACTIONS[action]
    data: dict[str, Any] = {
        "marketplace": "azure",
        "vendor": "azure",
        "eventType": action,
        "changeType": change,
        "contractId": subscription_id,
        "operationId": operation_id,
        "activityId": operation.text("activityId"),
        "operationStatus": operation.text("status"),
        "operationRequestSource": operation.text("operationRequestSource"),
        "publisherId": operation.text("publisherId"),
        "offerId": operation.text("offerId"),
        "planId": operation.text("planId"),
        "quantity": operation.number("quantity"),
    }
    subscription = operation.object("subscription", required=False)
    if subscription is not None:
        data.update(_subscription_data(subscription, data))
    data["original"] = operation.value
    raw_time = operation.value.get("timeStamp")
    time = timestamp(raw_time, "$.timeStamp") if raw_time is not None else None
    return Intake(
        [
            envelope(
                tenant_id=tenant_id,
                source=SOURCE,
                vendor_key=f"{action}:{operation_id}",
                trigger=trigger,
                time=time,
                subject=subscription_id,
                data=data,
            )
        ]
    )


def _subscription_data(subscription: Fields, flat: dict[str, Any]) -> dict[str, Any]:
    """The current payload's ``subscription``: the customer, the term, the plan as it is now."""
    found: dict[str, Any] = {
        "subscriptionName": subscription.text("name"),
        "subscriptionStatus": subscription.text("saasSubscriptionStatus"),
        "autoRenew": subscription.value.get("autoRenew"),
        "isFreeTrial": subscription.value.get("isFreeTrial"),
        "isTest": subscription.value.get("isTest"),
        # The operation's own fields win: ChangeQuantity's top-level quantity is the new one.
        "offerId": flat["offerId"] or subscription.text("offerId"),
        "planId": flat["planId"] or subscription.text("planId"),
        "quantity": flat["quantity"]
        if flat["quantity"] is not None
        else subscription.number("quantity"),
    }
    for party in ("beneficiary", "purchaser"):
        person = subscription.object(party, required=False)
        if person is None:
            continue
        email = person.text("emailId") or person.text("email")
        found[f"{party}Email"] = email
        found[f"{party}TenantId"] = person.text("tenantId")
    found["customerEmail"] = found.get("beneficiaryEmail") or found.get("purchaserEmail")
    found["azureTenantId"] = found.get("beneficiaryTenantId") or found.get("purchaserTenantId")
    term = subscription.object("term", required=False)
    if term is not None:
        found.update(
            contractStartDate=term.text("startDate"),
            contractEndDate=term.text("endDate"),
            termUnit=term.text("termUnit"),
        )
    return found
