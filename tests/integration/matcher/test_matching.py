"""The matcher against the real broker and PostgreSQL: workflows in, execution requests out."""

from __future__ import annotations

import uuid

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.matcher.adapters.kafka import TopicsNotCoPartitioned
from services.matcher.service import MatcherService
from services.matcher.settings import MatcherSettings
from shared.contracts import CloudEvent, Topics, execution_id_for
from shared.kafka import tenant_partition
from tests.integration.matcher.support import (
    definition,
    events_handled,
    events_processed,
    events_rejected,
    publish_change,
    publish_event,
    read_requests,
    requests_for,
    workflows_applied,
)

pytestmark = pytest.mark.integration


async def test_each_event_requests_one_execution_per_active_matching_workflow_of_its_tenant(
    settings: MatcherSettings, producer: AIOKafkaProducer, topics: Topics, tenant_id: str
) -> None:
    other_tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    lonely_tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    for change in [
        (tenant_id, "wf-offer", 1, definition("private_offer.accepted")),
        (tenant_id, "wf-renamed", 1, definition("private_offer.accepted", name="old")),
        (tenant_id, "wf-renamed", 2, definition("private_offer.accepted", name="new")),
        (tenant_id, "wf-paused", 1, definition("private_offer.accepted")),
        (tenant_id, "wf-paused", 2, definition("private_offer.accepted", status="paused")),
        (tenant_id, "wf-deleted", 1, definition("private_offer.accepted")),
        (tenant_id, "wf-deleted", 2, None),
        (tenant_id, "wf-draft", 1, definition("private_offer.accepted", status="draft")),
        (tenant_id, "wf-customer", 1, definition("customer.created")),
        (tenant_id, "wf-cron-a", 1, definition("schedule.cron")),
        (tenant_id, "wf-cron-b", 1, definition("schedule.cron")),
        (other_tenant, "wf-other", 1, definition("private_offer.accepted")),
        (tenant_id, "wf-renamed", 1, definition("private_offer.accepted", name="replayed")),
    ]:
        await publish_change(producer, topics, *change)

    matcher = MatcherService(settings)
    await matcher.start()
    try:
        handled_before, rejected_before = events_handled(), events_rejected()
        await producer.send_and_wait(topics.events_normalized, b"{not json", key=tenant_id.encode())
        offer = await publish_event(producer, topics, tenant_id, "private_offer.accepted")
        cron = await publish_event(producer, topics, tenant_id, "schedule.cron", "wf-cron-b")
        untargeted_cron = await publish_event(producer, topics, tenant_id, "schedule.cron")
        other = await publish_event(producer, topics, other_tenant, "private_offer.accepted")
        await publish_event(producer, topics, lonely_tenant, "private_offer.accepted")
        await publish_event(producer, topics, tenant_id, "contract.expiring")
        await events_processed(handled_before, events=6)
        found = await read_requests(settings.kafka, topics.executions_requested)
        assert events_rejected() == rejected_before + 1

        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{matcher.http.bound_port}"
            assert (await http.get(f"{base}/readyz")).status == 200
            metrics = await (await http.get(f"{base}/metrics")).text()
    finally:
        await matcher.stop()

    assert untargeted_cron.subject is None
    assert sorted(
        (request.event.id, request.tenant_id, request.workflow_id, request.workflow_version)
        for _, request in found
    ) == sorted(
        [
            (offer.id, tenant_id, "wf-offer", 1),
            (offer.id, tenant_id, "wf-renamed", 2),
            (cron.id, tenant_id, "wf-cron-b", 1),
            (other.id, other_tenant, "wf-other", 1),
        ]
    )
    for key, request in found:
        assert key == request.workflow_id.encode()
        assert request.execution_id == execution_id_for(
            request.event, request.workflow_id, request.workflow_version
        )
    assert {r.workflow.name for _, r in found if r.workflow_id == "wf-renamed"} == {"new"}
    assert 'matcher_executions_requested_total{trigger="private_offer.accepted"}' in metrics
    assert "matcher_match_latency_seconds_bucket" in metrics


async def test_workflow_changes_apply_while_running(
    matcher: MatcherService,
    settings: MatcherSettings,
    producer: AIOKafkaProducer,
    topics: Topics,
    tenant_id: str,
) -> None:
    expected: list[tuple[str, int]] = []
    for version, workflow in [
        (1, definition("customer.created")),
        (2, definition("customer.created", status="paused")),
        (3, definition("customer.created", name="resumed")),
        (4, None),
    ]:
        record = await publish_change(producer, topics, tenant_id, "wf-live", version, workflow)
        await workflows_applied(matcher, record)
        handled_before = events_handled()
        event = await publish_event(producer, topics, tenant_id, "customer.created")
        await events_processed(handled_before, events=1)
        if workflow is not None and workflow.status == "active":
            expected.append((event.id, version))

    found = await read_requests(settings.kafka, topics.executions_requested)
    assert sorted((r.event.id, r.workflow_version) for _, r in found) == sorted(expected)


async def test_workflows_are_rebuilt_from_the_changelog_as_matchers_join_leave_and_restart(
    settings: MatcherSettings, producer: AIOKafkaProducer, topics: Topics
) -> None:
    partitions = settings.kafka.topic_partitions
    tenants: dict[int, str] = {}
    while len(tenants) < partitions:
        tenant = f"tenant-{uuid.uuid4().hex[:8]}"
        tenants.setdefault(tenant_partition(tenant, partitions), tenant)
    for tenant in tenants.values():
        await publish_change(
            producer, topics, tenant, "wf-offer", 1, definition("private_offer.accepted")
        )
    events: list[CloudEvent] = []

    async def every_tenant_is_matched() -> None:
        batch = [
            await publish_event(producer, topics, tenant, "private_offer.accepted")
            for tenant in tenants.values()
        ]
        events.extend(batch)
        await requests_for(settings.kafka, topics, *batch)

    first, second, third = (MatcherService(settings) for _ in range(3))
    try:
        await first.start()
        await every_tenant_is_matched()
        await second.start()  # the two share the partitions
        await every_tenant_is_matched()
        await first.stop()  # the second takes them all
        await every_tenant_is_matched()
        await second.stop()
        await third.start()  # a restart: nothing but the changelog to go by
        await every_tenant_is_matched()
    finally:
        for matcher in (first, second, third):
            await matcher.stop()

    found = await read_requests(settings.kafka, topics.executions_requested)
    # At-least-once: an event may be requested again across a rebalance, with the same id.
    execution_ids: dict[str, set[str]] = {}
    for _, request in found:
        execution_ids.setdefault(request.event.id, set()).add(request.execution_id)
    assert set(execution_ids) == {event.id for event in events}
    assert all(len(ids) == 1 for ids in execution_ids.values())
    assert {(r.tenant_id, r.workflow_id, r.workflow_version) for _, r in found} == {
        (tenant, "wf-offer", 1) for tenant in tenants.values()
    }


async def test_it_refuses_to_start_when_the_topics_are_not_co_partitioned(
    settings: MatcherSettings, topics: Topics
) -> None:
    kafka = settings.kafka
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(topics.events_normalized, kafka.topic_partitions, 1),
                NewTopic(topics.workflows_changelog, kafka.topic_partitions + 1, 1),
            ]
        )
    finally:
        await admin.close()

    service = MatcherService(settings)
    try:
        with pytest.raises(TopicsNotCoPartitioned, match="same count"):
            await service.start()
    finally:
        await service.stop()
