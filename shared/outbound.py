"""Where outbound HTTP may go: which addresses are public, which URLs may be called. Pure.

The executor applies these rules twice for every HTTP action (webhook, call_api, teams, Slack,
Salesforce, HubSpot): to the URL before connecting, and to every address a host name resolves
to, where the connection is made. The config API applies the URL rule when a workflow is saved,
so that a URL naming a private address is a 422 instead of a step that fails at run time.

A host is refused before any lookup when it is an IP address in any spelling that resolvers
accept — dotted quads, but also the decimal, octal and hexadecimal forms of ``inet_aton``
(``2130706433``, ``0177.0.0.1``, ``0x7f.1``), and IPv6 forms that carry an IPv4 address
(``::ffff:127.0.0.1``, 6to4, Teredo, NAT64) — or a name that always means this machine
(``localhost`` and ``*.localhost``, RFC 6761) or a cloud metadata service.
"""

from __future__ import annotations

import ipaddress
from typing import Final
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES: Final = frozenset({"http", "https"})
INTERNAL_NAMES: Final = frozenset(
    {"localhost", "metadata", "metadata.google.internal", "metadata.goog", "instance-data"}
)
"""Host names that name this machine or a cloud metadata service wherever they are resolved."""

_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_PART_LIMITS = (2**32, 2**24, 2**16, 2**8)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and routes to, if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is globally routable unicast: not loopback, private, link-local,
    shared, reserved, unspecified, multicast or site-local, also when wrapped in IPv6."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return is_public_address(embedded)
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def address_refusal(host: str) -> str | None:
    """Why a connection to the IP address ``host`` (as a resolver returns it) is refused, or
    None when it may be made. Raises ``ValueError`` if ``host`` is not an IP address."""
    address = ipaddress.ip_address(host)
    if is_public_address(address):
        return None
    return f"{address} is not a public address"


def _inet_aton_part(text: str) -> int | None:
    """One part of an ``inet_aton`` address: decimal, octal (leading 0) or hex (0x)."""
    if text[:2].lower() == "0x":
        digits, base = text[2:], 16
    elif len(text) > 1 and text.startswith("0"):
        digits, base = text[1:], 8
    else:
        digits, base = text, 10
    if digits == "" and base == 16:
        return 0
    try:
        return int(digits, base) if digits.isalnum() and digits.isascii() else None
    except ValueError:
        return None


def literal_address(host: str) -> IPAddress | None:
    """The IP address ``host`` spells, in any form a resolver accepts, or None for a name.

    Accepts IPv6 with or without brackets and a zone (``fe80::1%eth0``), and IPv4 in the one
    to four part forms of ``inet_aton``, each part decimal, octal or hex, a trailing dot allowed.
    """
    candidate = host.strip().removeprefix("[").removesuffix("]").split("%", 1)[0]
    if ":" in candidate:
        try:
            return ipaddress.IPv6Address(candidate)
        except ValueError:
            return None
    parts = candidate.removesuffix(".").split(".")
    if not 1 <= len(parts) <= 4 or any(part == "" for part in parts):
        return None
    values = [_inet_aton_part(part) for part in parts]
    if any(value is None for value in values):
        return None
    numbers = [value for value in values if value is not None]
    *leading, last = numbers
    if any(value > 255 for value in leading) or last >= _IPV4_PART_LIMITS[len(leading)]:
        return None
    packed = 0
    for value in leading:
        packed = packed << 8 | value
    packed = packed << (8 * (4 - len(leading))) | last
    return ipaddress.IPv4Address(packed)


def host_refusal(host: str) -> str | None:
    """Why ``host`` (a URL's host) may not be called whatever it resolves to, or None.

    An IP literal that is not public, or a name in ``INTERNAL_NAMES`` (or under
    ``.localhost``), is refused; any other name is checked where it is resolved.
    """
    name = host.strip().lower().removesuffix(".")
    if name in INTERNAL_NAMES or name.endswith(".localhost"):
        return f"{host} names this machine or a metadata service"
    address = literal_address(host)
    if address is None or is_public_address(address):
        return None
    return f"{host} is not a public address"


def url_refusal(url: str, *, allow_private_networks: bool) -> str | None:
    """Why ``url`` may not be called, or None when it may (as far as can be known unresolved).

    Checks the scheme (http or https), that there is a host, and, unless private networks are
    allowed, ``host_refusal``. A host name's addresses are checked at connect time.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as error:
        return f"the URL is not valid: {error}"
    if parts.scheme not in ALLOWED_SCHEMES:
        return f"scheme {parts.scheme!r} is not allowed; use http or https"
    if not host:
        return "the URL has no host"
    if allow_private_networks:
        return None
    return host_refusal(host)
