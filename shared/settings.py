"""Environment settings every service shares; each service adds its own class beside it.

Every variable, with its default, is listed in ``docs/configuration.md``. Only a service's
``__main__`` builds settings; everything else receives them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_FROZEN = SettingsConfigDict(frozen=True, extra="ignore", env_ignore_empty=True)

PostgresSslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


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
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL over TLS)",
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", description="SASL mechanism when the protocol is SASL_*"
    )
    sasl_username: str = Field(default="", description="SASL user name (SASL_* protocols)")
    sasl_password: SecretStr = Field(
        default=SecretStr(""), description="SASL password (SASL_* protocols)"
    )
    ssl_cafile: Path | None = Field(
        default=None,
        description="PEM file of the CAs that sign the brokers' certificates "
        "(unset: the system's trust store)",
    )
    ssl_certfile: Path | None = Field(
        default=None, description="PEM client certificate, for brokers that require mutual TLS"
    )
    ssl_keyfile: Path | None = Field(
        default=None, description="PEM private key of `KAFKA_SSL_CERTFILE`"
    )
    ssl_check_hostname: bool = Field(
        default=True, description="verify that a broker's certificate names its host"
    )
    lag_interval_seconds: float = Field(
        default=15.0,
        gt=0,
        description="how often a service reads and exports its consumer groups' lag",
    )

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_") and not (
            self.sasl_username and self.sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs KAFKA_SASL_USERNAME "
                "and KAFKA_SASL_PASSWORD"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")


class PostgresSettings(BaseSettings):
    """The PostgreSQL every service keeps its own tables in."""

    model_config = SettingsConfigDict(**_FROZEN)

    database_url: SecretStr = Field(
        default=SecretStr("postgresql://postgres@127.0.0.1:5432/postgres"),
        description="libpq URL of the database",
    )
    db_pool_min_size: int = Field(default=1, ge=0, description="connections kept open")
    db_pool_max_size: int = Field(default=10, ge=1, description="most connections at once")
    db_sslmode: PostgresSslMode | None = Field(
        default=None,
        description="libpq sslmode (unset: the URL's `sslmode`, else prefer); require encrypts, "
        "verify-ca also checks the server's certificate, verify-full its host name too",
    )
    db_ssl_root_cert: Path | None = Field(
        default=None,
        description="PEM file of the CAs that sign the server's certificate "
        "(verify-ca, verify-full; unset: the system's trust store)",
    )

    @model_validator(mode="after")
    def _root_cert_needs_verification(self) -> PostgresSettings:
        if self.db_ssl_root_cert is not None and self.db_sslmode not in (
            "verify-ca",
            "verify-full",
        ):
            raise ValueError("DB_SSL_ROOT_CERT is used with DB_SSLMODE=verify-ca or verify-full")
        return self


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
