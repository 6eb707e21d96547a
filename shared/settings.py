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

    bootstrap_servers: str = "127.0.0.1:9092"
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    fetch_max_wait_ms: int = Field(default=500, ge=0)
    request_timeout_ms: int = Field(default=40_000, ge=1_000)
    enable_idempotence: bool = False
    topic_partitions: int = Field(default=12, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    topic_prefix: str = Field(default="", validation_alias="TOPIC_PREFIX")


class PostgresSettings(BaseSettings):
    """The PostgreSQL every service keeps its own tables in."""

    model_config = SettingsConfigDict(**_FROZEN)

    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/postgres")
    db_pool_min_size: int = Field(default=1, ge=0)
    db_pool_max_size: int = Field(default=10, ge=1)


class ObservabilitySettings(BaseSettings):
    """Logging for every service."""

    model_config = SettingsConfigDict(**_FROZEN)

    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|text)$")


class ServiceSettings(BaseSettings):
    """Base of each service's settings: the shared parts plus the service's own port.

    A subclass sets ``env_prefix`` (``INGEST_``, ``MATCHER_`` …) for its own fields; the shared
    parts keep their unprefixed names (``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL``).
    """

    model_config = _FROZEN

    host: str = "0.0.0.0"  # noqa: S104 - a service listens on every interface of its pod
    port: int = Field(ge=0, le=65535)
    shutdown_grace_seconds: float = Field(default=20.0, gt=0)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
