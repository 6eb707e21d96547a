"""The outbound HTTP client's rules that need no network: the resolver guard, retry classes."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from pydantic import SecretStr, ValidationError

from services.executor.adapters.outbound import (
    DestinationRefused,
    PublicAddressResolver,
    StaticHostsResolver,
    is_transient,
)
from services.executor.settings import WebhookSettings
from shared.testing.network import FixedResolver


async def test_a_name_resolving_only_to_public_addresses_is_allowed() -> None:
    resolver = PublicAddressResolver(FixedResolver("93.184.216.34", "2606:4700::1111"))
    results = await resolver.resolve("hooks.example.com", 443)
    assert [r["host"] for r in results] == ["93.184.216.34", "2606:4700::1111"]


@pytest.mark.parametrize(
    "addresses", [("127.0.0.1",), ("93.184.216.34", "10.0.0.7"), ("169.254.169.254",), ("::1",)]
)
async def test_a_name_resolving_to_any_non_public_address_is_refused(
    addresses: tuple[str, ...],
) -> None:
    resolver = PublicAddressResolver(FixedResolver(*addresses))
    with pytest.raises(DestinationRefused, match=r"rebind\.example\.com resolves to"):
        await resolver.resolve("rebind.example.com", 80)


async def test_closing_the_guard_closes_the_resolver_it_wraps() -> None:
    inner = FixedResolver()
    await PublicAddressResolver(inner).close()
    assert inner.closed


async def test_fixed_host_entries_answer_their_names_and_the_guard_still_checks_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBHOOK_HOSTS", '{"CRM.internal.test": "10.0.0.5", "v6.test": "::1"}')
    hosts = {name: str(address) for name, address in WebhookSettings().hosts.items()}
    static = StaticHostsResolver(FixedResolver("93.184.216.34"), hosts)
    assert [r["host"] for r in await static.resolve("crm.internal.test.", 443)] == ["10.0.0.5"]
    assert [r["family"] for r in await static.resolve("v6.test", 443)] == [socket.AF_INET6]
    assert [r["host"] for r in await static.resolve("hooks.example.com")] == ["93.184.216.34"]
    with pytest.raises(DestinationRefused, match=r"crm\.internal\.test resolves to 10\.0\.0\.5"):
        await PublicAddressResolver(static).resolve("crm.internal.test", 443)
    monkeypatch.setenv("WEBHOOK_HOSTS", '{"crm.internal.test": "not-an-address"}')
    with pytest.raises(ValidationError, match="hosts"):
        WebhookSettings()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (aiohttp.ServerDisconnectedError(), True),
        (aiohttp.ClientOSError(104, "reset"), True),
        (aiohttp.ServerTimeoutError(), True),
        (TimeoutError(), True),
        (DestinationRefused("x resolves to 10.0.0.1"), False),
        (aiohttp.InvalidURL("nope"), False),
        (ValueError("bad header"), False),
    ],
)
def test_which_delivery_failures_are_retried(error: Exception, expected: bool) -> None:
    assert is_transient(error) is expected


def test_webhooks_default_to_public_networks_and_need_a_standard_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WEBHOOK_SIGNING_SECRET", raising=False)
    monkeypatch.delenv("WEBHOOK_ALLOW_PRIVATE_NETWORKS", raising=False)
    assert not WebhookSettings().allow_private_networks
    assert WebhookSettings().uses_dev_secret
    with pytest.raises(ValidationError, match="whsec_"):
        WebhookSettings(signing_secret=SecretStr("not base64!"))
