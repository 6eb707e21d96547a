"""Environment settings every service shares; each service adds its own class beside it.

Every variable, with its default, is listed in ``docs/configuration.md``. Only a service's
``__main__`` builds settings; everything else receives them.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_FROZEN = SettingsConfigDict(frozen=True, extra="ignore", env_ignore_empty=True)


class KafkaSettings(BaseSettings):
    """How to reach the broker and how clients behave.

    The defaults suit a production Kafka cluster. The embedded broker used by ``make run`` and the
    tests is given shorter session timeouts and fetch waits (see BROKER.md): it holds a JoinGroup
    for half the session timeout and sleeps for the whole fetch wait on every long poll.
    """

    model_config = SettingsConfigDict(env_prefix="KAFKA_", **_FROZEN)

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="comma-separated host:port list of the brokers"
    )
    session_timeout_ms: int = Field(
        default=10_000, ge=1_000, description="consumer group session timeout"
    )
    heartbeat_interval_ms: int = Field(
        default=3_000,
        ge=100,
        description="consumer heartbeat interval (under a third of the session timeout)",
    )
    fetch_max_wait_ms: int = Field(
        default=500, ge=0, description="longest a fetch waits for data (bounds end-to-end latency)"
    )
    request_timeout_ms: int = Field(default=40_000, ge=1_000, description="client request timeout")
    enable_idempotence: bool = Field(
        default=False, description="idempotent producer (the embedded broker does not support it)"
    )
    topic_partitions: int = Field(
        default=12, ge=1, description="partitions of the topics a service creates at start"
    )
    replication_factor: int = Field(default=1, ge=1, description="replicas of created topics")
    topic_prefix: str = Field(
        default="", validation_alias="TOPIC_PREFIX", description="prefix of every topic name"
    )


class PostgresSettings(BaseSettings):
    """The PostgreSQL every service keeps its own tables in."""

    model_config = SettingsConfigDict(**_FROZEN)

    database_url: SecretStr = Field(
        default=SecretStr("postgresql://postgres@127.0.0.1:5432/postgres"),
        description="libpq URL of the database",
    )
    db_pool_min_size: int = Field(default=1, ge=0, description="connections kept open")
    db_pool_max_size: int = Field(default=10, ge=1, description="most connections at once")


class ObservabilitySettings(BaseSettings):
    """Logging for every service."""

    model_config = SettingsConfigDict(**_FROZEN)

    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: str = Field(
        default="json", pattern="^(json|text)$", description="json (one object per line) or text"
    )


class ServiceSettings(BaseSettings):
    """Base of each service's settings: the shared parts plus the service's own port.

    A subclass sets ``env_prefix`` (``INGEST_``, ``MATCHER_`` …) for its own fields; the shared
    parts keep their unprefixed names (``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL``).
    """

    model_config = _FROZEN

    host: str = Field(
        default="0.0.0.0",  # noqa: S104 - a service listens on every interface of its pod
        description="address the HTTP server binds",
    )
    port: int = Field(ge=0, le=65535, description="HTTP port: API, /healthz, /readyz, /metrics")
    shutdown_grace_seconds: float = Field(
        default=20.0, gt=0, description="longest a SIGTERM waits for in-flight work"
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)


SHARED_SETTINGS: tuple[type[BaseSettings], ...] = (
    KafkaSettings,
    PostgresSettings,
    ObservabilitySettings,
)
"""The parts every service reads under the same unprefixed names."""


def environment_variables(
    settings: type[BaseSettings], *, skip: tuple[type[BaseSettings], ...] = ()
) -> list[tuple[str, str, str]]:
    """``(variable, default, description)`` for every setting of ``settings``, nested included.

    Nested settings of the classes in ``skip`` are left out.

    Used to write ``docs/configuration.md`` from the code, so the list cannot drift from it.
    """
    prefix = str(settings.model_config.get("env_prefix", ""))
    rows: list[tuple[str, str, str]] = []
    for name, field in settings.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseSettings):
            if nested not in skip:
                rows.extend(environment_variables(nested, skip=skip))
            continue
        alias = field.validation_alias
        variable = alias if isinstance(alias, str) else f"{prefix}{name}"
        default = field.get_default(call_default_factory=True)
        if isinstance(default, SecretStr):
            shown = default.get_secret_value()  # defaults are public development values
        else:
            shown = "" if default is None else str(default)
        description = field.description or next(
            (
                base.model_fields[name].description or ""
                for base in settings.__mro__[1:]
                if isinstance(base, type)
                and issubclass(base, BaseSettings)
                and name in base.model_fields
            ),
            "",
        )
        rows.append((variable.upper(), shown, description))
    return rows
