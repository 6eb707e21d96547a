"""HubSpot: webhook batches, and the request signatures (v3, and v1/v2 of older apps).

Pure: no I/O. The mapping is documented in ``docs/sources.md``. Signatures are checked here
with the app secret and the request exactly as HubSpot sent it; digests are compared in constant
time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Final

from services.ingest.domain import Rejected
from services.ingest.sources.base import (
    Fields,
    Intake,
    as_number,
    each,
    envelope,
    timestamp,
    unmappable,
)
from shared.contracts import CloudEvent, TriggerType

SOURCE: Final = "hubspot"
MAX_SIGNATURE_AGE_MS: Final = 5 * 60 * 1000
"""HubSpot: "reject the request if the timestamp is older than 5 minutes"."""

OBJECT_TYPE_IDS: Final = {"0-1": "contact", "0-2": "company", "0-3": "deal", "0-5": "ticket"}
"""The generic ``object.*`` subscriptions name the object by type id."""
ACTIONS: Final = frozenset(
    {
        "creation",
        "deletion",
        "propertyChange",
        "privacyDeletion",
        "merge",
        "restore",
        "associationChange",
    }
)
CUSTOMER_OBJECTS: Final = frozenset({"contact", "company"})
DEAL_STAGES: Final[dict[str, TriggerType]] = {
    "closedwon": "private_offer.accepted",
    "closedlost": "private_offer.cancelled",
}

# HubSpot's validation guide: before signing, these escapes in the URI are decoded.
_URI_DECODED: Final = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


class SignatureError(Exception):
    """The request is not signed by HubSpot with this secret; ``reason`` is for metrics only."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def check_signature_headers(headers: Mapping[str, str], *, now_ms: int) -> None:
    """What can be checked without the secret: a signature is present and v3's is fresh.

    Done before the tenant's secret is looked up, so its answers say nothing about the tenant.
    """
    if "X-HubSpot-Signature-v3" in headers:
        raw = headers.get("X-HubSpot-Request-Timestamp", "")
        if not raw.isdigit():
            raise SignatureError(
                "missing_timestamp", "X-HubSpot-Request-Timestamp (milliseconds) is required"
            )
        if abs(now_ms - int(raw)) > MAX_SIGNATURE_AGE_MS:
            raise SignatureError(
                "stale_signature", "X-HubSpot-Request-Timestamp is more than 5 minutes away"
            )
    elif "X-HubSpot-Signature" not in headers:
        raise SignatureError(
            "missing_signature", "X-HubSpot-Signature-v3 (or X-HubSpot-Signature) is required"
        )


def verify_signature(
    headers: Mapping[str, str], *, method: str, uri: str, body: bytes, secret: str, now_ms: int
) -> None:
    """Raise ``SignatureError`` unless the request carries a valid signature made with ``secret``.

    ``uri`` is the full URL HubSpot called (scheme, host, path and query, as sent). v3 is
    HMAC-SHA256 over method + URI + body + timestamp, base64; v1 is SHA-256 of secret + body and
    v2 of secret + method + URI + body, hex.
    """
    check_signature_headers(headers, now_ms=now_ms)
    key = secret.encode()
    candidates = dict.fromkeys([uri, _decode_uri(uri)])
    if "X-HubSpot-Signature-v3" in headers:
        presented = headers["X-HubSpot-Signature-v3"].encode()
        stamp = headers["X-HubSpot-Request-Timestamp"].encode()
        expected = [
            base64.b64encode(
                hmac.new(key, method.encode() + u.encode() + body + stamp, hashlib.sha256).digest()
            )
            for u in candidates
        ]
    else:
        presented = headers["X-HubSpot-Signature"].strip().lower().encode()
        version = headers.get("X-HubSpot-Signature-Version", "v1").strip().lower()
        if version == "v1":
            expected = [hashlib.sha256(key + body).hexdigest().encode()]
        elif version == "v2":
            expected = [
                hashlib.sha256(key + method.encode() + u.encode() + body).hexdigest().encode()
                for u in candidates
            ]
        else:
            raise SignatureError("bad_signature", "unknown X-HubSpot-Signature-Version")
    # Every candidate is compared, so the time taken does not depend on which one matched.
    matches = [hmac.compare_digest(presented, digest) for digest in expected]
    if not any(matches):
        raise SignatureError("bad_signature", "the signature does not match")


def _decode_uri(uri: str) -> str:
    for escaped, char in _URI_DECODED.items():
        uri = uri.replace(escaped, char).replace(escaped.lower(), char)
    return uri


def parse(body: object, *, tenant_id: str, max_events: int) -> Intake:
    """A webhook batch (a JSON array; one object is taken as a batch of one) → envelopes."""
    if not isinstance(body, list):
        return Intake(_event(body, tenant_id=tenant_id, path="$"))
    return Intake(
        each(body, "$", max_events, lambda item, at: _event(item, tenant_id=tenant_id, path=at))
    )


def _event(item: object, *, tenant_id: str, path: str) -> list[CloudEvent]:
    event = Fields(item, path)
    # The guide's own example names the field eventType; deliveries name it subscriptionType.
    name = "subscriptionType" if "subscriptionType" in event.value else "eventType"
    subscription_type = event.require_text(name)
    kind, _, action = subscription_type.partition(".")
    if action not in ACTIONS:
        raise unmappable(event.at(name), subscription_type, [f"<object>.{a}" for a in ACTIONS])
    if kind == "object":
        type_id = event.text("objectTypeId") or ""
        kind = OBJECT_TYPE_IDS.get(type_id, f"object:{type_id}")
    object_id = event.require_text("objectId")
    portal_id = event.text("portalId")
    property_name = event.text("propertyName")
    property_value = event.value.get("propertyValue")
    data: dict[str, Any] = {
        "vendor": "hubspot",
        "eventType": subscription_type,
        "objectType": kind,
        "hubspotObjectId": object_id,
        "portalId": portal_id,
        "propertyName": property_name,
        "propertyValue": property_value,
        "changeSource": event.text("changeSource"),
        "attemptNumber": event.value.get("attemptNumber"),
    }
    data.update(_known_property(kind, property_name, property_value, event.at("propertyValue")))
    data["original"] = event.value
    trigger = _trigger(kind, action, property_name, property_value)
    raw_time = event.value.get("occurredAt")
    # eventId is not unique on its own (HubSpot's test deliveries all carry eventId 100); a
    # retry repeats every one of these fields and changes only attemptNumber.
    key = ":".join(
        str(part)
        for part in (
            portal_id,
            subscription_type,
            object_id,
            property_name,
            event.text("eventId"),
            raw_time,
        )
    )
    return [
        envelope(
            tenant_id=tenant_id,
            source=SOURCE,
            vendor_key=key,
            trigger=trigger,
            time=timestamp(raw_time, event.at("occurredAt")) if raw_time is not None else None,
            subject=f"{kind}:{object_id}",
            data=data,
            path=path,
        )
    ]


def _trigger(kind: str, action: str, name: str | None, value: object) -> TriggerType:
    if kind in CUSTOMER_OBJECTS:
        if action == "creation":
            return "customer.created"
        if action in {"propertyChange", "merge", "restore"}:
            return "customer.updated"
    elif kind == "deal":
        if action == "creation":
            return "private_offer.created"
        if action == "propertyChange" and name == "dealstage" and value in DEAL_STAGES:
            return DEAL_STAGES[str(value)]
    return "webhook.received"


def _known_property(kind: str, name: str | None, value: object, path: str) -> dict[str, Any]:
    """A changed property that is one of seed 000's variables, under that variable's name."""
    if value is None or value == "REDACTED" or name is None:
        return {}
    if kind == "deal" and name == "amount":
        try:
            return {"value": as_number(value, path)}
        except Rejected:
            return {}
    names = {
        ("contact", "email"): "customerEmail",
        ("company", "name"): "customerName",
        ("deal", "dealname"): "offerName",
    }
    variable = names.get((kind, name))
    return {variable: value} if variable else {}
