"""Salesforce: Change Data Capture and Platform Events (Streaming API and Pub/Sub API shapes),
and Outbound Messages (SOAP XML, answered with the SOAP acknowledgement).

Pure: no I/O. JSON bodies: a CometD message (``{"channel", "data": {"schema", "payload",
"event"}}``) or a list of them; a Pub/Sub API ``FetchResponse`` in protobuf's JSON mapping
(``{"events": [{"event": {"id", "schemaId", "payload"}, "replayId"}]}``, optionally with the
``topicName`` the subscriber asked for) or one ``ConsumerEvent``, whose ``payload`` the relay
has decoded with the event's Avro schema (ingest does not call Salesforce for schemas). XML
bodies: an Outbound Message, parsed with defusedxml (no DTDs, no entities). The mapping is
documented in ``docs/sources.md``.
"""

from __future__ import annotations

from typing import Any, Final
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from services.ingest.domain import Problem, Rejected
from services.ingest.sources.base import (
    MAX_NESTING,
    Fields,
    Intake,
    as_number,
    each,
    envelope,
    timestamp,
    unmappable,
)
from shared.contracts import CloudEvent, TriggerType

SOURCE: Final = "salesforce"

CHANGE_TYPES: Final = frozenset(
    {
        "CREATE",
        "UPDATE",
        "DELETE",
        "UNDELETE",
        "GAP_CREATE",
        "GAP_UPDATE",
        "GAP_DELETE",
        "GAP_UNDELETE",
        "GAP_OVERFLOW",
    }
)
CUSTOMER_ENTITIES: Final = frozenset({"Account", "Contact", "Lead"})
STAGES: Final[dict[str, TriggerType]] = {
    "Closed Won": "private_offer.accepted",
    "Closed Lost": "private_offer.cancelled",
}

SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND: Final = "http://soap.sforce.com/2005/09/outbound"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
ACK: Final = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)
"""The acknowledgement Salesforce expects; any other answer, even a 200, is redelivered."""


def parse(body: object, *, tenant_id: str, max_events: int) -> Intake:
    """A decoded JSON body → envelopes; ``Rejected`` names every field at fault."""
    if isinstance(body, list):
        return Intake(
            each(
                body,
                "$",
                max_events,
                lambda item, path: [_cometd(item, tenant_id=tenant_id, path=path)],
            )
        )
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        topic = body.get("topicName") or body.get("topic_name")
        return Intake(
            each(
                body["events"],
                "$.events",
                max_events,
                lambda item, path: [_pubsub(item, topic, tenant_id=tenant_id, path=path)],
            )
        )
    if isinstance(body, dict) and "event" in body and "data" not in body:
        topic = body.get("topicName") or body.get("topic_name")
        return Intake([_pubsub(body, topic, tenant_id=tenant_id, path="$")])
    return Intake([_cometd(body, tenant_id=tenant_id, path="$")])


def _cometd(item: object, *, tenant_id: str, path: str) -> CloudEvent:
    message = Fields(item, path)
    channel = message.require_text("channel")
    data = message.require_object("data")
    payload = data.require_object("payload")
    event = data.object("event", required=False)
    replay = event.text("replayId") if event else None
    uuid = event.text("EventUuid") if event else None
    fallback = uuid or f"{channel}:{replay}"
    return _payload_event(
        payload, channel, fallback, tenant_id=tenant_id, path=path, original=message.value
    )


def _pubsub(item: object, topic: object, *, tenant_id: str, path: str) -> CloudEvent:
    consumer = Fields(item, path)
    producer = consumer.require_object("event")
    event_id = producer.require_text("id")
    raw_payload = producer.value.get("payload")
    if isinstance(raw_payload, str):
        raise Rejected(
            "undecoded_payload",
            "the Pub/Sub payload is still Avro-encoded",
            [
                Problem(
                    producer.at("payload"),
                    "decode it with the schema "
                    f"{producer.text('schemaId') or producer.text('schema_id')!r} before sending",
                )
            ],
        )
    payload = producer.require_object("payload")
    name = str(topic) if isinstance(topic, str) else ""
    return _payload_event(
        payload, name, event_id, tenant_id=tenant_id, path=path, original=consumer.value
    )


def _payload_event(
    payload: Fields,
    channel: str,
    fallback_key: str,
    *,
    tenant_id: str,
    path: str,
    original: dict[str, Any],
) -> CloudEvent:
    header = payload.object("ChangeEventHeader", required=False)
    if header is None:
        return _platform_event(payload, channel, fallback_key, tenant_id, path, original)
    entity = header.require_text("entityName")
    change = header.require_text("changeType")
    if change not in CHANGE_TYPES:
        raise unmappable(header.at("changeType"), change, sorted(CHANGE_TYPES))
    records = header.value.get("recordIds")
    record_id = records[0] if isinstance(records, list) and records else None
    fields = {k: v for k, v in payload.value.items() if k != "ChangeEventHeader"}
    data = _record_variables(entity, fields)
    data.update(
        vendor="salesforce",
        eventType=f"{entity}.{change}",
        entityName=entity,
        changeType=change,
        salesforceRecordId=record_id,
        recordIds=records if isinstance(records, list) else None,
        changedFields=header.value.get("changedFields"),
        changeOrigin=header.text("changeOrigin"),
        channel=channel or None,
        original=original,
    )
    transaction = header.text("transactionKey")
    sequence = header.text("sequenceNumber")
    # A change event is identified by its transaction and its place in it; replays repeat both.
    key = f"cdc:{transaction}:{sequence}" if transaction else f"cdc:{fallback_key}"
    commit = header.value.get("commitTimestamp")
    return envelope(
        tenant_id=tenant_id,
        source=SOURCE,
        vendor_key=key,
        trigger=_record_trigger(entity, change, fields),
        time=timestamp(commit, header.at("commitTimestamp")) if commit is not None else None,
        subject=str(record_id) if record_id is not None else None,
        data=data,
        path=path,
    )


def _platform_event(
    payload: Fields,
    channel: str,
    key: str,
    tenant_id: str,
    path: str,
    original: dict[str, Any],
) -> CloudEvent:
    name = channel.rsplit("/", 1)[-1] or None
    created = payload.value.get("CreatedDate")
    return envelope(
        tenant_id=tenant_id,
        source=SOURCE,
        vendor_key=f"platform:{key}",
        trigger="webhook.received",
        time=timestamp(created, payload.at("CreatedDate")) if created is not None else None,
        subject=name,
        data={
            "vendor": "salesforce",
            "eventType": name,
            "eventName": name,
            "channel": channel or None,
            "fields": payload.value,
            "original": original,
        },
        path=path,
    )


def _record_trigger(entity: str, change: str, fields: dict[str, Any]) -> TriggerType:
    if entity in CUSTOMER_ENTITIES:
        if change == "CREATE":
            return "customer.created"
        if change in {"UPDATE", "UNDELETE"}:
            return "customer.updated"
    elif entity == "Opportunity":
        stage = fields.get("StageName")
        if change == "CREATE" and stage not in STAGES:
            return "private_offer.created"
        if change in {"CREATE", "UPDATE"} and isinstance(stage, str) and stage in STAGES:
            return STAGES[stage]
    elif entity == "Contract" and change == "CREATE":
        return "contract.created"
    return "webhook.received"


def _record_variables(entity: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Seed 000's variables from a record's fields (as far as the record carries them)."""
    data: dict[str, Any] = {"fields": fields}
    name = fields.get("Name")
    if isinstance(name, dict):  # compound name of a Contact or Lead
        name = " ".join(str(v) for v in (name.get("FirstName"), name.get("LastName")) if v)
    if entity in {"Account", "Contact", "Lead"}:
        data["customerName"] = name
        data["customerEmail"] = fields.get("Email")
    elif entity == "Opportunity":
        data["offerName"] = name
        data["value"] = fields.get("Amount")
        data["stage"] = fields.get("StageName")
    elif entity == "Contract":
        data["contractId"] = fields.get("ContractNumber")
        data["contractStartDate"] = fields.get("StartDate")
        data["contractEndDate"] = fields.get("EndDate")
    if not isinstance(data.get("value"), int | float) or isinstance(data.get("value"), bool):
        data.pop("value", None)
    return data


def parse_outbound_message(raw: bytes, *, tenant_id: str, max_events: int) -> Intake:
    """An Outbound Message (SOAP) → one envelope per ``Notification``; answered with ``ACK``."""
    try:
        root = fromstring(raw, forbid_dtd=True)
    except DefusedXmlException as error:
        raise Rejected(
            "forbidden_xml", "DTDs and entities are refused", [Problem("$", repr(error))]
        ) from None
    except (ParseError, ValueError) as error:
        raise Rejected(
            "invalid_xml", f"the body is not valid XML: {error}", [Problem("$", str(error))]
        ) from None
    if _depth(root) > MAX_NESTING:
        raise Rejected("invalid_xml", "the XML is nested too deeply", [Problem("$", "too deep")])
    notifications = root.find(f"{{{SOAP_ENV}}}Body/{{{OUTBOUND}}}notifications")
    if root.tag != f"{{{SOAP_ENV}}}Envelope" or notifications is None:
        raise Rejected(
            "invalid_event",
            "not a Salesforce Outbound Message",
            [Problem("/Envelope/Body/notifications", "required (SOAP 1.1, outbound namespace)")],
        )
    organization = _text(notifications, "OrganizationId")
    if not organization:
        raise _missing("/Envelope/Body/notifications/OrganizationId")
    action = _text(notifications, "ActionId")
    items: list[object] = list(notifications.findall(f"{{{OUTBOUND}}}Notification"))
    return Intake(
        each(
            items,
            "/Envelope/Body/notifications/Notification",
            max_events,
            lambda item, path: [
                _notification(item, organization, action, tenant_id=tenant_id, path=path)
            ],
        ),
        reply="soap",
    )


def _notification(
    item: object, organization: str, action: str | None, *, tenant_id: str, path: str
) -> CloudEvent:
    assert isinstance(item, Element)
    notification_id = _text(item, "Id")
    if not notification_id:
        raise _missing(f"{path}/Id")
    sobject = item.find(f"{{{OUTBOUND}}}sObject")
    if sobject is None:
        raise _missing(f"{path}/sObject")
    declared = sobject.get(f"{{{XSI}}}type", "")
    entity = declared.partition(":")[2] or declared
    fields = {
        child.tag.rpartition("}")[2]: None if child.get(f"{{{XSI}}}nil") == "true" else child.text
        for child in sobject
    }
    data = _record_variables(entity, fields)
    if fields.get("Amount"):
        data["value"] = as_number(fields["Amount"], f"{path}/sObject/Amount")
    data.update(
        vendor="salesforce",
        eventType=f"{entity}.OutboundMessage",
        entityName=entity,
        salesforceRecordId=fields.get("Id"),
        organizationId=organization,
        actionId=action,
        notificationId=notification_id,
        original={"Id": notification_id, "sObjectType": declared, "sObject": fields},
    )
    stage = fields.get("StageName")
    trigger: TriggerType = "webhook.received"
    if entity == "Opportunity" and isinstance(stage, str) and stage in STAGES:
        trigger = STAGES[stage]
    elif entity in CUSTOMER_ENTITIES:
        trigger = "customer.updated"
    return envelope(
        tenant_id=tenant_id,
        source=SOURCE,
        # Salesforce redelivers a notification with the same Id until it is acknowledged.
        vendor_key=f"om:{organization}:{notification_id}",
        trigger=trigger,
        time=None,
        subject=fields.get("Id"),
        data=data,
        path=path,
    )


def _text(element: Element, name: str) -> str | None:
    found = element.find(f"{{{OUTBOUND}}}{name}")
    return found.text.strip() if found is not None and found.text else None


def _missing(path: str) -> Rejected:
    return Rejected("missing_field", f"{path} is required", [Problem(path, "required")])


def _depth(root: Element) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        element, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_NESTING:
            break
        stack.extend((child, level + 1) for child in element)
    return deepest
