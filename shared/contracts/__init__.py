"""Every Kafka payload as a frozen pydantic model, next to the topic it travels on (SPEC §2).

Services translate these into their private domain models at their edges; nothing else crosses
a service boundary.
"""

from shared.contracts.envelope import CloudEvent, EventDeadLetter, TriggerType
from shared.contracts.executions import (
    DeferralReason,
    DeferredExecution,
    ExecutionDeadLetter,
    ExecutionRequest,
    Resumption,
    execution_id_for,
)
from shared.contracts.topics import Topics
from shared.contracts.workflows import (
    Action,
    Schedule,
    WebhookAction,
    WorkflowChange,
    WorkflowDefinition,
    WorkflowStatus,
)

__all__ = [
    "Action",
    "CloudEvent",
    "DeferralReason",
    "DeferredExecution",
    "EventDeadLetter",
    "ExecutionDeadLetter",
    "ExecutionRequest",
    "Resumption",
    "Schedule",
    "Topics",
    "TriggerType",
    "WebhookAction",
    "WorkflowChange",
    "WorkflowDefinition",
    "WorkflowStatus",
    "execution_id_for",
]
