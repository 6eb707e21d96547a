"""Topic names (SPEC §2), all prefixed by ``TOPIC_PREFIX``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    """The product's topics under one prefix.

    Co-partitioning contract: ``events_normalized`` and ``workflows_changelog`` have the same
    partition count and both place a record by its tenant id, so the matcher instance that owns
    partition *p* of one owns partition *p* of the other.
    """

    prefix: str = ""

    @property
    def events_inbound(self) -> str:
        return f"{self.prefix}events.inbound"

    @property
    def events_normalized(self) -> str:
        return f"{self.prefix}events.normalized"

    @property
    def events_deadletter(self) -> str:
        return f"{self.prefix}events.deadletter"

    @property
    def workflows_changelog(self) -> str:
        return f"{self.prefix}workflows.changelog"

    @property
    def executions_requested(self) -> str:
        return f"{self.prefix}executions.requested"

    @property
    def executions_deferred(self) -> str:
        return f"{self.prefix}executions.deferred"

    @property
    def executions_deadletter(self) -> str:
        return f"{self.prefix}executions.deadletter"
