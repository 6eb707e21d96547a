"""AWS Marketplace: EventBridge events (agreements, licenses, offers) and SaaS SNS notifications.

Pure: no I/O. The mapping is documented in ``docs/sources.md``. Accepted bodies: one EventBridge
event, a JSON list of them, or an SNS HTTP(S) message whose ``Message`` is the marketplace's JSON
string (SaaS notifications, or an EventBridge event forwarded through SNS). SNS subscription and
unsubscription confirmations are never events: they become a ``Notice`` for an operator.
"""

from __future__ import annotations

import re
from typing import Any, Final

from services.ingest.sources.base import (
    Fields,
    Intake,
    Notice,
    each,
    envelope,
    parse_json,
    timestamp,
    unmappable,
)
from shared.contracts import CloudEvent, TriggerType

SOURCE: Final = "aws-marketplace"
EVENT_SOURCES: Final = frozenset(
    {"aws.agreement-marketplace", "aws.marketplacecatalog", "aws.marketplace"}
)

_ROLE = re.compile(r"^(?P<name>.+?)(?: -)? (?:Proposer|Manufacturer|Acceptor)$")
"""``Purchase Agreement Created - Proposer`` → ``Purchase Agreement Created``. The ``-`` is
optional because AWS's own buyer guide prints ``Purchase Agreement Amended Acceptor``."""

ENDED: Final[dict[str, TriggerType]] = {
    "CANCELLED": "contract.cancelled",
    "TERMINATED": "contract.cancelled",
    "EXPIRED": "contract.expired",
    # The successor agreement's "Created" (intent RENEW) is the contract.renewed event; the end
    # of the predecessor is kept, under the generic trigger, so that nothing fires twice.
    "RENEWED": "webhook.received",
    "REPLACED": "webhook.received",
}
DETAIL_TYPES: Final[dict[str, tuple[TriggerType, ...]]] = {
    "Purchase Agreement Created": ("private_offer.accepted", "contract.created"),
    "Purchase Agreement Amended": ("customer.updated",),
    "Purchase Agreement Ended": (),  # by end status, see ENDED
    "Purchase Agreement Ending": ("contract.expiring",),
    "Purchase Agreement Renewal Terms Finalized": ("webhook.received",),
    "Purchase Agreement Renewal Upcoming": ("webhook.received",),
    "License Updated": ("customer.updated",),
    "License Deprovisioned": ("customer.churned",),
    "Offer Released": ("private_offer.created",),
    "OfferSet Released": ("webhook.received",),
    "Change Set Succeeded": ("webhook.received",),
    "Change Set Failed": ("webhook.received",),
    "Change Set Cancelled": ("webhook.received",),
    "Products Security Report Created": ("webhook.received",),
    "Disbursement Paused": ("webhook.received",),
}
SNS_ACTIONS: Final[dict[str, TriggerType]] = {
    "subscribe-success": "customer.created",
    "subscribe-fail": "webhook.received",
    "unsubscribe-pending": "contract.cancelled",
    "unsubscribe-success": "customer.churned",
    "entitlement-updated": "customer.updated",
}
SNS_CONFIRMATIONS: Final = frozenset({"SubscriptionConfirmation", "UnsubscribeConfirmation"})


def parse(body: object, *, tenant_id: str, max_events: int) -> Intake:
    """One AWS body → its envelopes; ``Rejected`` names every field at fault (all or nothing)."""
    if isinstance(body, list):
        return Intake(
            each(
                body,
                "$",
                max_events,
                lambda item, path: eventbridge(item, tenant_id=tenant_id, path=path),
            )
        )
    if isinstance(body, dict) and "Type" in body and "detail-type" not in body:
        return sns(body, tenant_id=tenant_id)
    return Intake(eventbridge(body, tenant_id=tenant_id, path="$"))


def eventbridge(item: object, *, tenant_id: str, path: str) -> list[CloudEvent]:
    """One EventBridge event from AWS Marketplace → one or two envelopes."""
    event = Fields(item, path)
    origin = event.require_text("source")
    if origin not in EVENT_SOURCES:
        raise unmappable(event.at("source"), origin, sorted(EVENT_SOURCES))
    detail_type = event.require_text("detail-type")
    match = _ROLE.match(detail_type)
    name = match.group("name") if match else detail_type
    if name not in DETAIL_TYPES:
        raise unmappable(event.at("detail-type"), detail_type, list(DETAIL_TYPES))
    vendor_id = event.require_text("id")
    time = timestamp(event.value.get("time"), event.at("time")) if "time" in event.value else None
    detail = event.require_object("detail")
    data, subject = _detail_data(detail)
    data.update(eventType=detail_type, awsEventSource=origin, original=event.value)
    triggers = DETAIL_TYPES[name]
    if name == "Purchase Agreement Created" and data.get("intent") == "RENEW":
        triggers = ("contract.renewed",)
    elif name == "Purchase Agreement Ended":
        status = str(data.get("endStatus"))
        if status not in ENDED:
            raise unmappable(f"{path}.detail.agreement.status", status, list(ENDED))
        triggers = (ENDED[status],)
    key = f"{origin}:{detail_type}:{vendor_id}"
    return [
        envelope(
            tenant_id=tenant_id,
            source=SOURCE,
            vendor_key=key,
            trigger=trigger,
            time=time,
            subject=subject,
            data=dict(data),
            path=path,
        )
        for trigger in triggers
    ]


def _detail_data(detail: Fields) -> tuple[dict[str, Any], str | None]:
    """Seed 000's variables from an agreement, license or offer ``detail``."""
    data: dict[str, Any] = {"marketplace": "aws", "vendor": "aws"}
    agreement = detail.object("agreement", required=False)
    subject: str | None = None
    if agreement is not None:
        subject = agreement.text("id")
        data.update(
            contractId=subject,
            intent=agreement.text("intent"),
            endStatus=agreement.text("status"),
            contractStartDate=agreement.text("startTime"),
            contractEndDate=agreement.text("endTime"),
            acceptedAt=agreement.text("acceptanceTime"),
            previousContractId=agreement.text("previousAgreementId"),
            daysUntilExpiry=agreement.number("daysBeforeEndTime"),
            autoRenew=agreement.value.get("autoRenewalEnabled"),
        )
    offer = detail.object("offer", required=False)
    if offer is not None:
        data.update(
            offerId=offer.text("id"),
            offerName=offer.text("name"),
            offerExpirationDate=offer.text("expirationDate"),
        )
        subject = subject or data["offerId"]
    product = detail.object("product", required=False)
    if product is not None:
        data.update(
            productId=product.text("id"),
            productCode=product.text("code"),
            productName=product.text("title"),
        )
    for party, prefix in (("acceptor", "aws"), ("proposer", "seller")):
        found = detail.object(party, required=False)
        if found is not None:
            data[f"{prefix}AccountId"] = found.text("accountId")
            if party == "proposer":
                data["sellerName"] = found.text("name")
    license_ = detail.object("license", required=False)
    if license_ is not None:
        data["licenseArn"] = license_.text("arn")
    renewal = detail.object("renewalSummary", required=False)
    if renewal is not None:
        data.update(value=renewal.number("tcv"), currency=renewal.text("currency"))
    if isinstance(detail.value.get("targetedBuyerAccountIds"), list):
        data["targetedBuyerAccountIds"] = detail.value["targetedBuyerAccountIds"]
    data["changeType"] = "entitlement" if license_ is not None else None
    return data, subject


def sns(body: dict[str, Any], *, tenant_id: str) -> Intake:
    """An SNS HTTP(S) message: a notification → envelopes; a confirmation → a notice."""
    message = Fields(body, "$")
    kind = message.require_text("Type")
    if kind in SNS_CONFIRMATIONS:
        return Intake(
            [],
            notices=[
                Notice(
                    code="sns_"
                    + ("subscription" if kind[0] == "S" else "unsubscribe")
                    + "_confirmation",
                    message=(
                        f"SNS {kind} for {message.text('TopicArn')}: not an event; confirm it by "
                        "visiting SubscribeURL (ingest does not call URLs it receives)"
                    ),
                    details={
                        name: str(body[name])
                        for name in ("TopicArn", "MessageId", "SubscribeURL", "Timestamp")
                        if isinstance(body.get(name), str)
                    },
                )
            ],
        )
    if kind != "Notification":
        raise unmappable("$.Type", kind, ["Notification", *sorted(SNS_CONFIRMATIONS)])
    message_id = message.require_text("MessageId")
    inner = parse_json(message.require_text("Message"), path="$.Message")
    if isinstance(inner, dict) and "detail-type" in inner:
        return Intake(eventbridge(inner, tenant_id=tenant_id, path="$.Message"))
    notification = Fields(inner, "$.Message")
    action = notification.require_text("action")
    if action not in SNS_ACTIONS:
        raise unmappable("$.Message.action", action, list(SNS_ACTIONS))
    raw_customer = notification.text("customer-identifier")
    customer = raw_customer.strip() if raw_customer else None
    free_trial = notification.text("isFreeTrialTermPresent")
    data = {
        "marketplace": "aws",
        "vendor": "aws",
        "eventType": action,
        "customerIdentifier": customer,
        "productCode": notification.text("product-code"),
        "offerId": notification.text("offer-identifier"),
        "isFreeTrial": free_trial.lower() == "true" if free_trial is not None else None,
        "changeType": "entitlement" if action == "entitlement-updated" else None,
        "topicArn": message.text("TopicArn"),
        "original": notification.value,
    }
    time = timestamp(body["Timestamp"], "$.Timestamp") if "Timestamp" in body else None
    trigger = SNS_ACTIONS[action]
    return Intake(
        [
            envelope(
                tenant_id=tenant_id,
                source=SOURCE,
                vendor_key=f"sns:{message.text('TopicArn')}:{message_id}",
                trigger=trigger,
                time=time,
                subject=customer,
                data=data,
            )
        ]
    )
