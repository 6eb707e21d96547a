"""The stream's promises on the real broker: read your writes, dead letters, faust pinned, metrics."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Sequence

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import NodeNotReadyError
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from services.matcher.adapters.changelog import ChangelogReader
from services.matcher.adapters.kafka import KafkaExecutionSink
from services.matcher.service import MatcherService
from services.matcher.settings import MatcherSettings
from shared.contracts import (
    CloudEvent,
    EventDeadLetter,
    ExecutionRequest,
    Topics,
    WorkflowDefinition,
)
from shared.kafka import encode
from tests.integration.matcher.support import (
    WAIT_SECONDS,
    publish_change,
    read_records,
    requests_for,
)

pytestmark = pytest.mark.integration


def marked_workflow(marker: int) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate(
        {
            "name": f"marker {marker}",
            "trigger": "webhook.received",
            "conditions": {"rules": [{"field": "marker", "operator": "equals", "value": marker}]},
            "actions": [{"type": "webhook", "url": "https://hooks.example.com/wf"}],
            "active": True,
        }
    )


def marked_event(tenant_id: str, marker: int) -> CloudEvent:
    return CloudEvent(
        id=f"evt_{uuid.uuid4().hex[:12]}",
        source="native",
        type="webhook.received",
        tenantid=tenant_id,
        data={"marker": marker},
    )


async def test_an_event_sent_the_moment_its_workflow_is_acknowledged_is_matched_every_time(
    matcher: MatcherService,
    settings: MatcherSettings,
    producer: AIOKafkaProducer,
    topics: Topics,
    tenant_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each workflow's changelog record is acknowledged, then at once an event only it matches
    is published: the matcher must have read the record before it matches the event — also
    when its changelog reader lags behind its event stream (here, by 200 ms a read)."""
    read = ChangelogReader.iteration

    async def lagging(reader: ChangelogReader) -> None:
        await asyncio.sleep(0.2)
        await read(reader)

    monkeypatch.setattr(ChangelogReader, "iteration", lagging)
    events = []
    for marker in range(10):
        await publish_change(
            producer, topics, tenant_id, f"wf-{marker}", 1, marked_workflow(marker)
        )
        event = marked_event(tenant_id, marker)
        await producer.send_and_wait(
            topics.events_normalized, encode(event), key=tenant_id.encode()
        )
        events.append(event)

    found = await requests_for(settings.kafka, topics, *events)

    matched = {(request.event.data["marker"], request.workflow_id) for _, request in found}
    assert matched == {(marker, f"wf-{marker}") for marker in range(10)}


async def test_records_that_are_not_envelopes_are_dead_lettered_and_the_partition_flows_on(
    matcher: MatcherService,
    settings: MatcherSettings,
    producer: AIOKafkaProducer,
    topics: Topics,
    tenant_id: str,
) -> None:
    await publish_change(producer, topics, tenant_id, "wf-1", 1, marked_workflow(1))
    key = tenant_id.encode()
    not_json = b"{not json"
    no_type = json.dumps({"id": "evt_x", "source": "native", "tenantid": tenant_id}).encode()
    await producer.send_and_wait(topics.events_normalized, not_json, key=key)
    await producer.send_and_wait(topics.events_normalized, no_type, key=key)
    event = marked_event(tenant_id, 1)
    await producer.send_and_wait(topics.events_normalized, encode(event), key=key)

    await requests_for(settings.kafka, topics, event)  # the event behind them is matched
    letters: list[EventDeadLetter] = []
    async with asyncio.timeout(WAIT_SECONDS):
        while len(letters) < 2:
            letters = [
                EventDeadLetter.model_validate_json(value)
                for value in await read_records(settings.kafka, topics.events_deadletter)
            ]

    assert [letter.received.encode() for letter in letters] == [not_json, no_type]
    assert {letter.tenant for letter in letters} == {tenant_id}
    assert {letter.error["code"] for letter in letters} == {"invalid_envelope"}
    [missing_type] = [
        detail["path"] for detail in letters[1].error["details"] if "type" in detail["path"]
    ]
    assert missing_type == "$.type"


async def test_requests_the_broker_did_not_acknowledge_are_sent_again_and_the_matcher_lives_on(
    matcher: MatcherService,
    settings: MatcherSettings,
    producer: AIOKafkaProducer,
    topics: Topics,
    tenant_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first hand-over of an event's requests fails as it does while the broker is out of
    reach (the ack never comes: the batch expires): they are handed over again, the event's
    request is on the topic, and the matcher carries on instead of stopping."""
    request = KafkaExecutionSink.request
    handed_over: list[int] = []

    async def unacknowledged_first(
        sink: KafkaExecutionSink, requests: Sequence[ExecutionRequest]
    ) -> Awaitable[object]:
        handed_over.append(len(requests))
        if len(handed_over) == 1:
            lost: asyncio.Future[object] = asyncio.get_running_loop().create_future()
            lost.set_exception(NodeNotReadyError("the broker is out of reach"))
            return lost
        return await request(sink, requests)

    monkeypatch.setattr(KafkaExecutionSink, "request", unacknowledged_first)
    await publish_change(producer, topics, tenant_id, "wf-1", 1, marked_workflow(1))
    event = marked_event(tenant_id, 1)
    await producer.send_and_wait(topics.events_normalized, encode(event), key=tenant_id.encode())

    found = await requests_for(settings.kafka, topics, event)
    assert [request.workflow_id for _, request in found] == ["wf-1"]
    assert handed_over == [1, 1]
    follower = marked_event(tenant_id, 1)  # the stream flows on behind it
    await producer.send_and_wait(topics.events_normalized, encode(follower), key=tenant_id.encode())
    await requests_for(settings.kafka, topics, follower)
    assert not matcher.stopping


async def test_the_faust_consumer_waits_as_configured_not_faust_s_hard_coded_1500_ms(
    matcher: MatcherService, settings: MatcherSettings
) -> None:
    """Pins the reach into faust and aiokafka internals (see ``configure_fetch_wait``): an
    upgrade that renames or stops reading them fails here."""
    assert getattr(AIOKafkaConsumerThread._create_worker_consumer, "configured_fetch_wait", False)
    assert matcher.stream is not None
    consumer = matcher.stream.app.consumer._thread._consumer
    assert settings.kafka.fetch_max_wait_ms != 1500
    assert consumer._fetch_max_wait_ms == settings.kafka.fetch_max_wait_ms
    assert consumer._fetcher._fetch_max_wait_ms == settings.kafka.fetch_max_wait_ms


async def test_metrics_tell_matched_unmatched_dead_letters_sizes_updates_and_lag(
    matcher: MatcherService,
    settings: MatcherSettings,
    producer: AIOKafkaProducer,
    topics: Topics,
    tenant_id: str,
) -> None:
    await publish_change(producer, topics, tenant_id, "wf-1", 1, marked_workflow(1))
    await producer.send_and_wait(topics.events_normalized, b"[]", key=tenant_id.encode())
    matching, missing = marked_event(tenant_id, 1), marked_event(tenant_id, 2)
    for event in (missing, matching):
        await producer.send_and_wait(
            topics.events_normalized, encode(event), key=tenant_id.encode()
        )
    await requests_for(settings.kafka, topics, matching)

    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{matcher.http.bound_port}/metrics"
        text = await (await http.get(url)).text()

    for line in [
        'matcher_events_matched_total{type="webhook.received"}',
        'matcher_events_unmatched_total{type="webhook.received"}',
        'matcher_events_deadlettered_total{code="invalid_envelope"}',
        'matcher_workflows_loaded{tenant_size="1"}',
        'matcher_tenants_loaded{tenant_size="1"}',
        "matcher_changelog_lag_records ",
        "matcher_index_update_seconds_count ",
        "matcher_changelog_wait_seconds_count ",
        "matcher_match_latency_seconds_count ",
    ]:
        assert line in text, line
    assert "tenant_id" not in text  # no tenant label, ever
    assert tenant_id not in text
