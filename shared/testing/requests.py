"""Execution requests made up for tests and benchmarks, and producing them to
``executions.requested`` as the matcher would (keyed by workflow id, acks from the broker)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.contracts import CloudEvent, ExecutionRequest, Topics, WorkflowDefinition
from shared.contracts.executions import execution_id_for


def webhook_requests(
    tenant_id: str,
    url: str,
    workflow_id: str,
    count: int,
    *,
    data: dict[str, Any] | None = None,
    **definition: Any,
) -> list[ExecutionRequest]:
    """``count`` requests of one active workflow whose one action is a webhook to ``url``, for
    events ``{workflow_id}-0`` … (``definition`` adds ``settings``, ``errorHandling`` …)."""
    workflow = WorkflowDefinition.model_validate(
        {
            "name": workflow_id,
            "trigger": "private_offer.accepted",
            "status": "active",
            "actions": [{"type": "webhook", "url": url}],
            **definition,
        }
    )
    made = []
    for n in range(count):
        event = CloudEvent(
            id=f"{workflow_id}-{n}",
            source="native",
            type="private_offer.accepted",
            tenantid=tenant_id,
            data={**(data or {}), "n": n},
        )
        made.append(
            ExecutionRequest(
                execution_id=execution_id_for(event, workflow_id, 1),
                tenant_id=tenant_id,
                workflow_id=workflow_id,
                workflow_version=1,
                workflow=workflow,
                event=event,
            )
        )
    return made


async def produce_requests(
    bootstrap_servers: str, topic_prefix: str, requests: Sequence[ExecutionRequest]
) -> None:
    """Publish ``requests`` in order to ``executions.requested`` and wait for every ack."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        topic = Topics(topic_prefix).executions_requested
        for request in requests:
            await producer.send(
                topic, request.model_dump_json().encode(), key=request.workflow_id.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()
