"""Performing ``trigger_workflow``: a ``workflow.triggered`` event on ``events.normalized``.

The event targets the workflow by its ``subject`` (the matcher's targeted triggers), carries the
triggering event's data when ``passData`` is set, and has the step's key as its id, so a
redelivered step publishes the same event and yields one downstream execution. Its
``chaindepth`` counts the workflows behind it; a step that would exceed
``EXECUTOR_MAX_CHAIN_DEPTH`` fails as ``chain_too_deep`` instead of publishing (the config API
also refuses to save a cycle of active workflows; this stops what a race past it would start).
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.executor.domain import StepOutcome, chain_depth, chained_event
from shared.contracts import ExecutionRequest, Topics
from shared.kafka import Outgoing, publish_all
from shared.workflows.actions import Action, TriggerWorkflowAction


class WorkflowTrigger:
    """Publishes ``trigger_workflow`` events through ``producer``, attached once connected."""

    def __init__(self, topics: Topics, *, max_depth: int) -> None:
        self._topic = topics.events_normalized
        self._max_depth = max_depth
        self.producer: AIOKafkaProducer | None = None

    async def perform(
        self, request: ExecutionRequest, step_index: int, action: Action
    ) -> StepOutcome:
        if not isinstance(action, TriggerWorkflowAction):
            raise TypeError(f"not a trigger_workflow action: {action.type!r}")
        if self.producer is None:
            raise RuntimeError("trigger_workflow performed before the service connected to Kafka")
        summary = {"workflowId": action.workflow_id, "passData": action.pass_data}
        depth = chain_depth(request.event) + 1
        if depth > self._max_depth:
            return StepOutcome.failed(
                "chain_too_deep",
                f"this would be hop {depth} of a chain of workflows; at most {self._max_depth} "
                "are allowed (EXECUTOR_MAX_CHAIN_DEPTH): is there a loop?",
                attempts=0,
                request=summary,
            )
        event = chained_event(request, step_index, action.workflow_id, pass_data=action.pass_data)
        try:
            await publish_all(self.producer, [Outgoing.of(self._topic, event, request.tenant_id)])
        except KafkaError as error:
            return StepOutcome.failed(
                "publish_failed",
                f"events.normalized did not acknowledge the event: {error}",
                attempts=1,
                request=summary,
                transient=True,
            )
        return StepOutcome(
            status="succeeded",
            attempts=1,
            request=summary,
            result={"eventId": event.id, "workflowId": action.workflow_id, "chainDepth": depth},
        )
