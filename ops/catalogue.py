"""The five services as an operator sees them: module, settings, port, tables, consumer groups.

One list that the container probe, the migration job, ``wf lag`` and the deployment checks read,
so that none of them keeps a copy of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic_settings import BaseSettings

from services.config_api.settings import ConfigApiSettings
from services.executor.settings import ExecutorSettings
from services.ingest.settings import IngestSettings
from services.matcher.settings import MatcherSettings
from services.scheduler.settings import SchedulerSettings
from shared.contracts import Topics
from shared.postgres import Pool
from shared.settings import ServiceSettings


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    name: str
    """The service's name: its container, Deployment and Prometheus job."""
    module: str
    """``python -m <module>`` runs it."""
    settings: type[ServiceSettings]
    port_variable: str

    @property
    def default_port(self) -> int:
        default = self.settings.model_fields["port"].default
        return int(default)


SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry("config-api", "services.config_api", ConfigApiSettings, "API_PORT"),
    ServiceEntry("ingest", "services.ingest", IngestSettings, "INGEST_PORT"),
    ServiceEntry("matcher", "services.matcher", MatcherSettings, "MATCHER_PORT"),
    ServiceEntry("executor", "services.executor", ExecutorSettings, "EXECUTOR_PORT"),
    ServiceEntry("scheduler", "services.scheduler", SchedulerSettings, "SCHEDULER_PORT"),
)


def service_named(name: str) -> ServiceEntry:
    """The entry of ``name`` (a service name or its module); ``KeyError`` if there is none."""
    for entry in SERVICES:
        if name in (entry.name, entry.module):
            return entry
    raise KeyError(name)


def settings_classes() -> list[type[BaseSettings]]:
    return [entry.settings for entry in SERVICES]


async def migrate_all(pool: Pool) -> None:
    """Apply every service's migrations (tenancy first: the others refer to tenants).

    Each service's own ``migrate`` is called, so the one-shot job applies exactly what the
    services would apply at start.
    """
    # Imported here: the adapters pull in every service's I/O stack, which the probe never needs.
    from services.config_api.adapters.postgres import migrate as config_api  # noqa: PLC0415
    from services.executor.adapters.postgres import migrate as executor  # noqa: PLC0415
    from services.matcher.adapters.postgres import migrate as matcher  # noqa: PLC0415
    from services.scheduler.adapters.postgres import migrate as scheduler  # noqa: PLC0415

    migrations: list[Callable[[Pool], Awaitable[None]]] = [
        config_api,
        matcher,
        executor,
        scheduler,
    ]
    for migrate in migrations:
        await migrate(pool)


def consumer_groups(
    ingest: IngestSettings | None = None,
    matcher: MatcherSettings | None = None,
    executor: ExecutorSettings | None = None,
    scheduler: SchedulerSettings | None = None,
) -> dict[str, list[str]]:
    """Each consumer group the services run and the topics it consumes, as the services name
    them from the same settings (read from the environment when not given)."""
    ingest = ingest or IngestSettings()
    matcher = matcher or MatcherSettings()
    executor = executor or ExecutorSettings()
    scheduler = scheduler or SchedulerSettings()
    topics = Topics(ingest.kafka.topic_prefix)
    return {
        ingest.consumer_group: [topics.events_inbound],
        matcher.consumer_group: [topics.events_normalized],
        executor.consumer_group: [topics.executions_requested],
        **scheduler.consumer_groups(topics),
    }


def all_topics(prefix: str = "") -> list[str]:
    """Every topic of SPEC §2, under ``prefix``."""
    topics = Topics(prefix)
    return [
        topics.events_inbound,
        topics.events_normalized,
        topics.events_deadletter,
        topics.workflows_changelog,
        topics.executions_requested,
        topics.executions_deferred,
        topics.executions_deadletter,
    ]
