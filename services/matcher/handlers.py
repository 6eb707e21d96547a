"""Matcher's handler: one normalized event in, its execution requests handed to the broker."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.matcher.domain import (
    EnrollmentKey,
    WorkflowIndex,
    enrollment_key,
    execution_requests,
)
from shared.contracts import CloudEvent, ExecutionRequest

log = logging.getLogger(__name__)


class ExecutionSink(Protocol):
    async def request(self, requests: Sequence[ExecutionRequest]) -> Awaitable[object]:
        """Hand ``requests`` to the broker in order; return what completes once it acknowledged
        every one of them (acks=all), or raises if it could not."""


class Enrollments(Protocol):
    async def enrolled(self, keys: Sequence[EnrollmentKey]) -> list[bool]:
        """For each key, enroll its subject unless enrolled already; True where the key's own
        execution is the one enrolled (the first, or a redelivery of it)."""


@dataclass(frozen=True, slots=True)
class Requested:
    """The requests an event yielded; the event counts as processed once ``delivered`` is done.

    ``unreadable`` counts the matched workflows left out because their definition no longer
    validates (they are dropped from the index until a newer version comes).
    """

    requests: list[ExecutionRequest]
    delivered: Awaitable[object]
    unreadable: int = 0


async def request_executions(
    workflows: WorkflowIndex, sink: ExecutionSink, enrollments: Enrollments, event: CloudEvent
) -> Requested:
    """Publish one request per workflow ``event`` triggers, once-per-subject workflows only for
    a subject's first execution.

    A redelivered event yields requests with the same execution ids, which is how the executor
    runs each of them at most once (and how a redelivery passes its own enrollment).
    """
    planned = execution_requests(event, workflows.matching(event))
    for workflow, reason in planned.unreadable:
        workflows.discard(workflow)
        log.error(
            "workflow definition is not readable; it no longer runs",
            extra={
                "tenant_id": workflow.tenant_id,
                "workflow_id": workflow.id,
                "version": workflow.version,
                "error": reason,
            },
        )
    requests = planned.requests
    keyed = [(request, enrollment_key(request)) for request in requests]
    keys = [key for _, key in keyed if key is not None]
    if keys:
        admitted = iter(await enrollments.enrolled(keys))
        requests = [request for request, key in keyed if key is None or next(admitted)]
    return Requested(requests, await sink.request(requests), len(planned.unreadable))
