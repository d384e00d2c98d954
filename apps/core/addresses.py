"""Client addresses and address allow-lists (the /metrics allow-list, API keys' `allowed_ips`).

An allow-list is a list of IP addresses or CIDR networks, IPv4 or IPv6 ("10.0.0.0/8",
"2001:db8::/32", "127.0.0.1"). The client address is REMOTE_ADDR, the peer that connected,
unless that peer is one of AFFILIATEHUB_TRUSTED_PROXIES: then the right-most address in
X-Forwarded-For that is not a trusted proxy (the left part of that header is whatever the client
chose to send, so it is never believed).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.core.exceptions import ValidationError

from apps.core import conf

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_network(value: str) -> IPNetwork:
    """One allow-list entry as a network (a bare address is a /32 or /128). ValueError if
    invalid."""
    return ipaddress.ip_network(str(value).strip(), strict=False)


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    return [parse_network(value) for value in values if str(value).strip()]


def parse_address(value: str | None) -> IPAddress | None:
    """An address, or None when missing or not an address (a unix socket peer, garbage)."""
    try:
        address = ipaddress.ip_address(str(value or "").strip())
    except ValueError:
        return None
    # "::ffff:10.0.0.1" (an IPv4 peer on a dual-stack socket) is the IPv4 address.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def address_allowed(address: IPAddress | None, networks: Iterable[IPNetwork]) -> bool:
    """True when `address` is inside one of `networks` (an address of the other IP version never
    is)."""
    if address is None:
        return False
    return any(address.version == network.version and address in network for network in networks)


def validate_networks(values: Iterable[str]) -> None:
    """Model/form validator for an allow-list: every entry an address or a CIDR network."""
    invalid = []
    for value in values:
        try:
            parse_network(value)
        except ValueError:
            invalid.append(str(value))
    if invalid:
        raise ValidationError(
            "Not an IP address or CIDR network: %(entries)s.",
            params={"entries": ", ".join(invalid)},
            code="invalid",
        )


def trusted_proxies() -> list[IPNetwork]:
    return parse_networks(conf.items("AFFILIATEHUB_TRUSTED_PROXIES"))


def client_address(request) -> IPAddress | None:
    """The address the request came from (see the module docstring for proxies)."""
    peer = parse_address(request.META.get("REMOTE_ADDR"))
    proxies = trusted_proxies()
    if peer is None or not address_allowed(peer, proxies):
        return peer
    forwarded = [
        part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    for hop in reversed(forwarded):
        address = parse_address(hop)
        if address is None:
            return None  # a malformed hop: the chain cannot be trusted
        if not address_allowed(address, proxies):
            return address
    return peer
