"""Matcher's handler: one normalized event in, its execution requests handed to the broker."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.matcher.domain import WorkflowIndex, execution_requests
from shared.contracts import CloudEvent, ExecutionRequest


class ExecutionSink(Protocol):
    async def request(self, requests: Sequence[ExecutionRequest]) -> Awaitable[object]:
        """Hand ``requests`` to the broker in order; return what completes once it acknowledged
        every one of them (acks=all), or raises if it could not."""


@dataclass(frozen=True, slots=True)
class Requested:
    """The requests an event yielded; the event counts as processed once ``delivered`` is done."""

    requests: list[ExecutionRequest]
    delivered: Awaitable[object]


async def request_executions(
    workflows: WorkflowIndex, sink: ExecutionSink, event: CloudEvent
) -> Requested:
    """Publish one request per workflow ``event`` triggers.

    A redelivered event yields requests with the same execution ids, which is how the executor
    runs each of them at most once.
    """
    requests = execution_requests(event, workflows.matching(event))
    return Requested(requests, await sink.request(requests))
