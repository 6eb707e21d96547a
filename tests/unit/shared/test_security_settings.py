"""Kafka TLS/SASL and PostgreSQL TLS settings reach every client they configure.

Each client is constructed (not connected) and its own configuration inspected: the aiokafka
producer, consumer and admin client of ``shared.kafka``, the clients faust builds for the
matcher, and the ``ssl`` argument asyncpg receives.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, cast

import certifi
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr, ValidationError

from services.matcher.adapters.kafka import EventStream
from services.matcher.settings import MatcherSettings
from shared.contracts import Topics
from shared.kafka import make_admin, make_consumer, make_producer
from shared.postgres import tls_option
from shared.settings import KafkaSettings, PostgresSettings

CA_FILE = Path(certifi.where())  # any PEM bundle of CAs will do


def sasl(protocol: str, mechanism: str) -> KafkaSettings:
    return KafkaSettings(
        security_protocol=protocol,  # type: ignore[arg-type]
        sasl_mechanism=mechanism,  # type: ignore[arg-type]
        sasl_username="svc-user",
        sasl_password=SecretStr("s3cret"),
        ssl_cafile=CA_FILE,
    )


async def every_client(settings: KafkaSettings) -> list[Any]:
    """The ``AIOKafkaClient`` (the part that opens connections) of each client, never started."""
    producer = make_producer(settings, client_id="t")
    consumer = make_consumer(settings, "topic", group_id="g", client_id="t")
    admin = make_admin(settings)
    clients = [producer.client, consumer._client, admin._client]
    await producer.stop()
    await consumer.stop()
    await admin.close()
    return clients


async def test_plaintext_is_the_default_for_every_client() -> None:
    for client in await every_client(KafkaSettings()):
        assert client._security_protocol == "PLAINTEXT"
        assert client._ssl_context is None


async def test_tls_reaches_every_client_with_the_configured_ca() -> None:
    settings = KafkaSettings(security_protocol="SSL", ssl_cafile=CA_FILE)
    for client in await every_client(settings):
        assert client._security_protocol == "SSL"
        context: ssl.SSLContext = client._ssl_context
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
        assert context.get_ca_certs()  # the CA file was loaded


async def test_hostname_checking_can_be_turned_off() -> None:
    settings = KafkaSettings(security_protocol="SSL", ssl_check_hostname=False)
    for client in await every_client(settings):
        assert client._ssl_context.check_hostname is False


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
async def test_sasl_reaches_every_client(protocol: str, mechanism: str) -> None:
    for client in await every_client(sasl(protocol, mechanism)):
        assert client._security_protocol == protocol
        assert client._sasl_mechanism == mechanism
        assert client._sasl_plain_username == "svc-user"
        assert client._sasl_plain_password == "s3cret"
        assert (client._ssl_context is not None) == (protocol == "SASL_SSL")


def test_sasl_without_credentials_is_refused_naming_the_variables() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        KafkaSettings(security_protocol="SASL_SSL")


def test_a_client_certificate_needs_its_key() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE"):
        KafkaSettings(security_protocol="SSL", ssl_certfile=CA_FILE)


def test_the_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "u")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "p")
    monkeypatch.setenv("KAFKA_SSL_CAFILE", str(CA_FILE))
    monkeypatch.setenv("DB_SSLMODE", "verify-full")
    monkeypatch.setenv("DB_SSL_ROOT_CERT", str(CA_FILE))

    kafka, postgres = KafkaSettings(), PostgresSettings()

    assert (kafka.security_protocol, kafka.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert kafka.sasl_password.get_secret_value() == "p"
    assert kafka.ssl_cafile == CA_FILE
    assert (postgres.db_sslmode, postgres.db_ssl_root_cert) == ("verify-full", CA_FILE)


async def faust_auth(kafka: KafkaSettings, tmp_path: Path) -> tuple[dict[str, Any], Any]:
    """What faust hands its consumers (``credentials_to_aiokafka_auth``, as its consumer thread
    calls it) and its producer (``_settings_auth``), for the matcher's real app."""
    unused = cast("Any", None)
    stream = EventStream(
        MatcherSettings(kafka=kafka), Topics(), unused, unused, unused, unused, data_dir=tmp_path
    )
    conf = stream.app.conf
    try:
        return (
            credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
            stream.app.producer._settings_auth(),
        )
    finally:
        stream.app.on_partitions_assigned.disconnect(stream._on_assigned)
        stream.app.on_partitions_revoked.disconnect(stream._on_revoked)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
async def test_sasl_reaches_the_matchers_faust_clients(
    protocol: str, mechanism: str, tmp_path: Path
) -> None:
    for auth in await faust_auth(sasl(protocol, mechanism), tmp_path):
        assert auth["security_protocol"] == protocol
        assert auth["sasl_mechanism"] == mechanism
        assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("svc-user", "s3cret")
        assert (auth["ssl_context"] is not None) == (protocol == "SASL_SSL")


async def test_tls_reaches_the_matchers_faust_clients(tmp_path: Path) -> None:
    settings = KafkaSettings(security_protocol="SSL", ssl_cafile=CA_FILE)
    for auth in await faust_auth(settings, tmp_path):
        assert auth["security_protocol"] == "SSL"
        assert auth["ssl_context"].get_ca_certs()


async def test_plaintext_faust_clients(tmp_path: Path) -> None:
    for auth in await faust_auth(KafkaSettings(), tmp_path):
        assert auth == {"security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("mode", [None, "disable", "allow", "prefer", "require"])
def test_postgres_modes_without_verification_are_libpqs(mode: str | None) -> None:
    assert tls_option(PostgresSettings(db_sslmode=mode)) == mode  # type: ignore[arg-type]


def test_postgres_verify_full_checks_the_chain_and_the_host_against_the_ca_file() -> None:
    context = tls_option(PostgresSettings(db_sslmode="verify-full", db_ssl_root_cert=CA_FILE))

    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert len(context.get_ca_certs()) == len(
        ssl.create_default_context(cafile=CA_FILE).get_ca_certs()
    )


def test_postgres_verify_ca_checks_the_chain_only() -> None:
    context = tls_option(PostgresSettings(db_sslmode="verify-ca"))

    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert not context.check_hostname


def test_a_root_certificate_without_verification_is_refused() -> None:
    with pytest.raises(ValidationError, match="DB_SSL_ROOT_CERT"):
        PostgresSettings(db_sslmode="require", db_ssl_root_cert=CA_FILE)
