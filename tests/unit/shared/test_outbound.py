"""Where outbound HTTP may go: public addresses, IP literals in every spelling, refused URLs."""

from __future__ import annotations

import ipaddress

import pytest

from shared.outbound import (
    address_refusal,
    host_refusal,
    is_public_address,
    literal_address,
    url_refusal,
)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address under test, not a bind
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fec0::1",
        "ff02::1",
        "ff0e::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "64:ff9b::a9fe:a9fe",
        "2001:db8::1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))
    assert address_refusal(address) is not None


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))
    assert address_refusal(address) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "https://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "http:///no-host",
    ],
)
def test_destinations_that_are_refused_before_connecting(url: str) -> None:
    assert url_refusal(url, allow_private_networks=False) is not None


def test_names_and_public_literals_pass_the_url_check() -> None:
    # A name is checked on the addresses it resolves to, at connect time.
    assert url_refusal("https://hooks.example.com/x", allow_private_networks=False) is None
    assert url_refusal("http://8.8.8.8/x", allow_private_networks=False) is None


def test_allowing_private_networks_still_refuses_other_schemes() -> None:
    assert url_refusal("http://127.0.0.1/x", allow_private_networks=True) is None
    assert url_refusal("gopher://127.0.0.1/x", allow_private_networks=True) is not None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # one decimal number
        ("0177.0.0.1", "127.0.0.1"),  # octal parts
        ("0x7f.0.0.1", "127.0.0.1"),  # hex parts
        ("0x7f.1", "127.0.0.1"),  # two parts: the last fills 24 bits
        ("127.1", "127.0.0.1"),
        ("10.0.258", "10.0.1.2"),  # three parts: the last fills 16 bits
        ("0xa9fea9fe", "169.254.169.254"),
        ("169.254.169.254.", "169.254.169.254"),  # a trailing dot
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_every_spelling_of_an_ip_address_is_read_as_that_address(host: str, address: str) -> None:
    assert literal_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "host",
    ["example.com", "hooks.example.com", "1.2.3.4.5", "256.1.1.1", "0x", "08.1.1.1", "1e3", "a..b"],
)
def test_names_and_impossible_numbers_are_not_addresses(host: str) -> None:
    address = literal_address(host)
    assert address is None or host == "0x"  # "0x" is inet_aton's 0.0.0.0


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/hook",
        "http://0177.0.0.1/hook",
        "http://0x7f.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:a9fe:a9fe]/latest",
        "http://[fd00:ec2::254]/latest/meta-data",  # AWS's IPv6 metadata address
        "http://localhost:8080/hook",
        "http://LOCALHOST./hook",
        "http://api.localhost/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://10.0.0.7/hook",
        "http://192.168.1.1/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_urls_naming_this_machine_a_private_network_or_a_metadata_service_are_refused(
    url: str,
) -> None:
    refusal = url_refusal(url, allow_private_networks=False)
    assert refusal is not None
    assert url_refusal(url, allow_private_networks=True) is None


def test_a_host_refusal_names_the_host() -> None:
    assert host_refusal("0x7f.1") == "0x7f.1 is not a public address"
    assert host_refusal("hooks.example.com") is None
