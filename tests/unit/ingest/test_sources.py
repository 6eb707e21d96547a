"""Every vendor's published examples through its adapter: triggers, variables, ids, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from services.ingest import sources
from services.ingest.domain import Rejected
from services.ingest.sources import Intake
from shared import tenancy
from shared.workflows.conditions import KNOWN_FIELD_TYPES

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sources"


def read(source: str, name: str | bytes, *, tenant: str = "acme") -> Intake:
    raw = name if isinstance(name, bytes) else (FIXTURES / source / name).read_bytes()
    return sources.read(source, raw, tenant_id=tenant, max_events=100)


def rejected(source: str, raw: bytes) -> Rejected:
    with pytest.raises(Rejected) as caught:
        sources.read(source, raw, tenant_id="acme", max_events=100)
    return caught.value


def without_doc_annotations(raw: bytes) -> bytes:
    """The docs' JSON with its ``//`` comments and trailing commas removed (nothing else)."""
    text = "\n".join(line.split("//")[0] for line in raw.decode().splitlines())
    return re.sub(r",(\s*[}\]])", r"\1", text).encode()


@pytest.mark.parametrize(
    ("source", "fixture", "triggers", "expected"),
    [
        (
            "aws",
            "purchase-agreement-created-proposer.json",
            ["private_offer.accepted", "contract.created"],
            {
                "contractId": "agmt-4mwg1nevbokzw95eca5797ixs",
                "contractEndDate": "2025-05-30T21:36:03Z",
                "offerId": "offer-1234567890123",
                "awsAccountId": "845735284135",
                "marketplace": "aws",
                "vendor": "aws",
            },
        ),
        (
            "aws",
            "purchase-agreement-created-manufacturer.json",
            ["private_offer.accepted", "contract.created"],
            {"intent": "NEW"},
        ),
        (
            "aws",
            "purchase-agreement-created-acceptor.json",
            ["private_offer.accepted", "contract.created"],
            {"intent": "NEW|RENEW|REPLACE"},
        ),
        (
            "aws",
            "purchase-agreement-created-acceptor-renew.json",
            ["contract.renewed"],
            {
                "previousContractId": "agmt-9xyz8wmklp67rt32nb1qv45ds",
                "productName": "Example Product Title",
                "offerName": "Example Offer Name",
                "sellerName": "Example Seller Name",
            },
        ),
        (
            "aws",
            "purchase-agreement-amended-proposer.json",
            ["customer.updated"],
            {"intent": "AMEND"},
        ),
        (
            "aws",
            "purchase-agreement-amended-acceptor.json",
            ["customer.updated"],
            {"eventType": "Purchase Agreement Amended Acceptor", "autoRenew": True},
        ),
        (
            "aws",
            "purchase-agreement-ended-proposer.json",
            ["contract.cancelled"],
            {"endStatus": "CANCELLED"},
        ),
        (
            "aws",
            "purchase-agreement-ending-acceptor.json",
            ["contract.expiring"],
            {"daysUntilExpiry": 180, "contractEndDate": "2025-05-30T21:36:03Z"},
        ),
        (
            "aws",
            "purchase-agreement-renewal-upcoming-acceptor.json",
            ["webhook.received"],
            {"value": 105000.0, "currency": "USD"},
        ),
        (
            "aws",
            "license-updated-manufacturer.json",
            ["customer.updated"],
            {"productCode": "aw4fgf5tyo5w2ap6fEXAMPLE", "changeType": "entitlement"},
        ),
        (
            "aws",
            "license-deprovisioned-manufacturer.json",
            ["customer.churned"],
            {
                "licenseArn": "aws:license-manager:us-east-1:123456789012:l-e52ca6f38bf84d0fafb8802ca15ac11x"
            },
        ),
        (
            "aws",
            "offer-released.json",
            ["private_offer.created"],
            {
                "offerName": "Offer Name",
                "productName": "Product Title",
                "targetedBuyerAccountIds": ["999988887777", "111122223333"],
            },
        ),
        (
            "aws",
            "sns-subscribe-success.json",
            ["customer.created"],
            {
                "customerIdentifier": "X01EXAMPLEX",
                "productCode": "n0123EXAMPLEXXXXXXXXXXXX",
                "isFreeTrial": True,
            },
        ),
        ("aws", "sns-subscribe-fail.json", ["webhook.received"], {"eventType": "subscribe-fail"}),
        (
            "aws",
            "sns-unsubscribe-pending.json",
            ["contract.cancelled"],
            {"offerId": "offer-abcexample123"},
        ),
        ("aws", "sns-unsubscribe-success.json", ["customer.churned"], {}),
        (
            "azure",
            "change-plan.json",
            ["customer.updated"],
            {"changeType": "plan", "contractId": "<guid>", "marketplace": "azure"},
        ),
        (
            "azure",
            "suspend.json",
            ["customer.updated"],
            {
                "changeType": "suspended",
                "customerEmail": "XXX",
                "contractEndDate": "2022-04-08T00:00:00Z",
                "planId": "starter",
            },
        ),
        (
            "azure",
            "unsubscribe.json",
            ["contract.cancelled"],
            {"subscriptionStatus": "Unsubscribed", "quantity": 1},
        ),
        (
            "salesforce",
            "cdc-account-create-cometd.json",
            ["customer.created"],
            {"customerName": "Acme", "entityName": "Account", "salesforceRecordId": "<record_ID>"},
        ),
        (
            "salesforce",
            "cdc-account-create-pubsub.json",
            ["customer.created"],
            {"customerName": "Acme", "channel": "/data/AccountChangeEvent"},
        ),
        (
            "salesforce",
            "platform-event-low-ink-cometd.json",
            ["webhook.received"],
            {
                "eventName": "Low_Ink__e",
                "fields": {
                    "CreatedDate": "2023-04-09T18:31:40.517Z",
                    "CreatedById": "005D0000001cSZs",
                    "Printer_Model__c": "XZO-5",
                    "Serial_Number__c": "12345",
                    "Ink_Percentage__c": 0.2,
                },
            },
        ),
        (
            "salesforce",
            "outbound-message-custom-object.xml",
            ["webhook.received"],
            {
                "entityName": "Design_Registration__c",
                "organizationId": "00DR......",
                "notificationId": "04lR0000000CcIFIA0",
            },
        ),
        (
            "hubspot",
            "webhook-batch.json",
            ["customer.updated", "customer.created"],
            {"portalId": "33", "vendor": "hubspot"},
        ),
        (
            "hubspot",
            "sensitive-property-change.json",
            ["customer.updated"],
            {"propertyValue": "REDACTED"},
        ),
        (
            "hubspot",
            "test-deliveries.json",
            ["customer.created", "customer.updated"],
            {"portalId": "44237313"},
        ),
    ],
)
def test_published_examples_map_onto_seed_triggers_and_variables(
    source: str, fixture: str, triggers: list[str], expected: dict[str, Any]
) -> None:
    intake = read(source, fixture)
    assert [e.type for e in intake.events] == triggers
    for event in intake.events:
        assert event.tenantid == "acme"
        assert "original" in event.data
        if source != "hubspot":  # a batch: the first event's variables are checked below
            assert expected.items() <= event.data.items()
        for name, kind in KNOWN_FIELD_TYPES.items():
            value = event.data.get(name)
            if value is not None and kind == "number":
                assert isinstance(value, int | float), name
                assert not isinstance(value, bool), name
    if source == "hubspot":
        assert expected.items() <= intake.events[0].data.items()


def test_the_same_input_yields_the_same_ids_and_distinct_events_distinct_ids() -> None:
    first = read("aws", "purchase-agreement-created-proposer.json")
    again = read("aws", "purchase-agreement-created-proposer.json")
    assert [e.id for e in first.events] == [e.id for e in again.events]
    assert len({e.id for e in first.events}) == 2
    # AWS's examples share one id across event types; the detail type keeps them apart.
    amended = read("aws", "purchase-agreement-amended-proposer.json")
    assert amended.events[0].id not in {e.id for e in first.events}
    assert (
        read("aws", "purchase-agreement-created-proposer.json", tenant="globex").events[0].id
        != first.events[0].id
    )


def test_a_hubspot_retry_yields_the_same_ids_and_test_deliveries_stay_distinct() -> None:
    raw = (FIXTURES / "hubspot" / "webhook-batch.json").read_bytes()
    retry = raw.replace(b'"attemptNumber": 0', b'"attemptNumber": 3')
    assert [e.id for e in read("hubspot", raw).events] == [
        e.id for e in read("hubspot", retry).events
    ]
    # Both of HubSpot's test deliveries carry eventId 100: still two events.
    assert len({e.id for e in read("hubspot", "test-deliveries.json").events}) == 2


def test_cdc_through_cometd_and_pubsub_is_one_event() -> None:
    cometd = read("salesforce", "cdc-account-create-cometd.json").events[0]
    pubsub = read("salesforce", "cdc-account-create-pubsub.json").events[0]
    assert cometd.id == pubsub.id


@pytest.mark.parametrize(
    ("status", "trigger"),
    [
        ("CANCELLED", "contract.cancelled"),
        ("TERMINATED", "contract.cancelled"),
        ("EXPIRED", "contract.expired"),
        ("RENEWED", "webhook.received"),
        ("REPLACED", "webhook.received"),
    ],
)
def test_each_end_status_of_an_agreement(status: str, trigger: str) -> None:
    raw = (FIXTURES / "aws" / "purchase-agreement-ended-proposer.json").read_bytes()
    [event] = read("aws", raw.replace(b'"CANCELLED"', f'"{status}"'.encode())).events
    assert (event.type, event.data["endStatus"]) == (trigger, status)


@pytest.mark.parametrize(
    ("source", "fixture", "code", "path"),
    [
        (
            "aws",
            "purchase-agreement-ended-acceptor.json",
            "unmappable_event",
            "$.detail.agreement.status",
        ),
        ("aws", "offer-released-channel-partner.json", "invalid_json", "$"),
        ("aws", "sns-entitlement-updated.json", "invalid_json", "$.Message"),
        ("azure", "change-quantity.json", "invalid_json", "$"),
        ("azure", "reinstate.json", "invalid_json", "$"),
        ("azure", "renew.json", "invalid_json", "$"),
        ("azure", "v1-subscribe.json", "invalid_json", "$"),
    ],
)
def test_examples_printed_as_invalid_json_or_with_placeholders_are_refused_precisely(
    source: str, fixture: str, code: str, path: str
) -> None:
    error = rejected(source, (FIXTURES / source / fixture).read_bytes())
    assert error.code == code
    assert path in [p.path for p in error.problems]
    if code == "invalid_json":
        assert "line" in error.problems[0].message


@pytest.mark.parametrize(
    ("source", "fixture", "trigger", "expected"),
    [
        (
            "azure",
            "change-quantity.json",
            "customer.updated",
            {"quantity": 100, "customerEmail": "XX@gmail.com", "operationRequestSource": "Partner"},
        ),
        (
            "azure",
            "reinstate.json",
            "customer.updated",
            {"changeType": "reinstated", "offerId": "offer2 ", "quantity": 20},
        ),
        (
            "azure",
            "renew.json",
            "contract.renewed",
            {"contractStartDate": "2021-12-04T00:00:00Z", "operationStatus": "Succeeded"},
        ),
        (
            "azure",
            "v1-subscribe.json",
            "contract.created",
            {"contractId": "cd9c6a3a-7576-49f2-b27e-1e5136e57f45"},
        ),
        ("aws", "sns-entitlement-updated.json", "customer.updated", {"changeType": "entitlement"}),
        (
            "aws",
            "offer-released-channel-partner.json",
            "private_offer.created",
            {"offerName": "Offer Name"},
        ),
    ],
)
def test_the_same_examples_without_the_docs_annotations_map(
    source: str, fixture: str, trigger: str, expected: dict[str, Any]
) -> None:
    raw = (FIXTURES / source / fixture).read_bytes()
    if fixture == "sns-entitlement-updated.json":
        envelope = json.loads(raw)
        envelope["Message"] = without_doc_annotations(envelope["Message"].encode()).decode()
        cleaned = json.dumps(envelope).encode()
    elif fixture == "offer-released-channel-partner.json":
        cleaned = without_doc_annotations(raw).replace(b"  }\n  }\n}", b"  }\n}")
    else:
        cleaned = without_doc_annotations(raw)
    [event] = read(source, cleaned).events
    assert event.type == trigger
    assert expected.items() <= event.data.items()


def test_azure_timestamps_without_offset_are_utc_and_seven_digit_fractions_are_read() -> None:
    [old] = read(
        "azure", without_doc_annotations((FIXTURES / "azure" / "v1-subscribe.json").read_bytes())
    ).events
    assert old.time.isoformat() == "2018-12-01T00:00:00+00:00"
    [new] = read("azure", "change-plan.json").events
    assert new.time.isoformat() == "2021-06-23T05:05:29.979905+00:00"


def test_an_sns_subscription_confirmation_is_a_notice_never_an_event() -> None:
    intake = read("aws", "sns-subscription-confirmation.json")
    assert intake.events == []
    [notice] = intake.notices
    assert notice.code == "sns_subscription_confirmation"
    assert notice.details["SubscribeURL"].startswith("https://sns.us-west-2.amazonaws.com/")
    unsubscribe = (FIXTURES / "aws" / "sns-subscription-confirmation.json").read_bytes()
    unsubscribe = unsubscribe.replace(b'"SubscriptionConfirmation"', b'"UnsubscribeConfirmation"')
    assert read("aws", unsubscribe).notices[0].code == "sns_unsubscribe_confirmation"


def test_an_eventbridge_event_forwarded_through_sns_is_read() -> None:
    inner = (FIXTURES / "aws" / "license-updated-manufacturer.json").read_text()
    envelope = json.loads((FIXTURES / "aws" / "sns-subscribe-success.json").read_bytes())
    [event] = read("aws", json.dumps({**envelope, "Message": inner}).encode()).events
    assert event.type == "customer.updated"


OPPORTUNITY = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>00D000000000001</OrganizationId><ActionId>04k000000000001</ActionId>
<Notification><Id>04l000000000001</Id>
<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
<sf:Id>006000000000001</sf:Id><sf:Name>Globex renewal</sf:Name><sf:Amount>150000.0</sf:Amount>
<sf:StageName>Closed Won</sf:StageName><sf:Description xsi:nil="true"/>
</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"""
"""The outbound message WSDL's OpportunityNotification (api_om_outboundmessaging_wsdl), filled."""


def test_an_opportunity_won_in_an_outbound_message_is_an_accepted_offer() -> None:
    intake = read("salesforce", OPPORTUNITY)
    [event] = intake.events
    assert intake.reply == "soap"
    assert (event.type, event.subject) == ("private_offer.accepted", "006000000000001")
    assert {
        "offerName": "Globex renewal",
        "value": 150000.0,
        "stage": "Closed Won",
    }.items() <= event.data.items()
    assert event.data["fields"]["Description"] is None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
            "forbidden_xml",
        ),
        (b"<soapenv:Envelope", "invalid_xml"),
        (b"<a><b/></a>", "invalid_event"),
        (OPPORTUNITY.replace(b"<Id>04l000000000001</Id>", b""), "missing_field"),
    ],
)
def test_hostile_or_foreign_xml_is_refused(raw: bytes, code: str) -> None:
    assert rejected("salesforce", raw).code == code


def test_an_avro_encoded_pubsub_payload_names_the_schema_to_decode_it_with() -> None:
    body = json.loads((FIXTURES / "salesforce" / "cdc-account-create-pubsub.json").read_bytes())
    body["events"][0]["event"]["payload"] = "AAAAAAAAGQ0AAA=="
    error = rejected("salesforce", json.dumps(body).encode())
    assert error.code == "undecoded_payload"
    assert error.problems[0].path == "$.events[0].event.payload"
    assert "IeRuaY6cbI_HsV8Rv1Mc5g" in error.problems[0].message


@pytest.mark.parametrize(
    ("source", "body", "code", "path"),
    [
        (
            "aws",
            {"source": "aws.ec2", "detail-type": "x", "id": "1", "detail": {}},
            "unmappable_event",
            "$.source",
        ),
        (
            "aws",
            {
                "source": "aws.agreement-marketplace",
                "detail-type": "Something New",
                "id": "1",
                "detail": {},
            },
            "unmappable_event",
            "$.detail-type",
        ),
        (
            "aws",
            {
                "source": "aws.agreement-marketplace",
                "detail-type": "License Updated - Manufacturer",
                "detail": {},
            },
            "missing_field",
            "$.id",
        ),
        (
            "aws",
            {"Type": "Notification", "MessageId": "m", "Message": '{"action": "dance"}'},
            "unmappable_event",
            "$.Message.action",
        ),
        ("aws", [], "invalid_batch", "$"),
        (
            "azure",
            {"id": "1", "subscriptionId": "s", "action": "Explode"},
            "unmappable_event",
            "$.action",
        ),
        (
            "azure",
            {"id": "1", "subscriptionId": "s", "action": "Renew", "timeStamp": "soon"},
            "invalid_event",
            "$.timeStamp",
        ),
        (
            "hubspot",
            [{"subscriptionType": "contact.exploded", "objectId": 1}],
            "unmappable_event",
            "$[0].subscriptionType",
        ),
        ("hubspot", [{"subscriptionType": "contact.creation"}], "missing_field", "$[0].objectId"),
        (
            "salesforce",
            {
                "channel": "/data/ChangeEvents",
                "data": {
                    "payload": {
                        "ChangeEventHeader": {"entityName": "Account", "changeType": "MERGE"}
                    }
                },
            },
            "unmappable_event",
            "$.data.payload.ChangeEventHeader.changeType",
        ),
        ("native", {"type": "no.such"}, "invalid_event", "$.type"),
    ],
)
def test_missing_fields_and_unmappable_types_name_the_field(
    source: str, body: object, code: str, path: str
) -> None:
    error = rejected(source, json.dumps(body).encode())
    assert error.code == code
    assert path in [p.path for p in error.problems]


def test_a_vendor_batch_is_all_or_nothing_and_bounded() -> None:
    good = json.loads((FIXTURES / "hubspot" / "webhook-batch.json").read_bytes())
    error = rejected("hubspot", json.dumps([*good, {"subscriptionType": "deal.creation"}]).encode())
    assert [p.path for p in error.problems] == ["$[2].objectId"]
    with pytest.raises(Rejected, match="at most 1"):
        sources.read("hubspot", json.dumps(good).encode(), tenant_id="acme", max_events=1)


def test_every_inbound_secret_source_has_an_adapter() -> None:
    assert set(sources.ADAPTERS) == set(tenancy.INBOUND_SOURCES)
    assert rejected("stripe", b"{}").code == "unsupported_source"
