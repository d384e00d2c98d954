"""The outbound address policy: where our own HTTP requests (deliveries, postbacks, polls) may go.

A URL an operator or an affiliate types could aim our servers at themselves, at the internal
network or at the cloud's metadata service (server-side request forgery). So every request
made through `policy_session()` resolves its host when it connects, checks every address the
name resolves to, and connects only to an address it checked: a DNS answer that changes
between the check and the connection (DNS rebinding) cannot slip through, because there is
no second lookup. TLS still verifies the certificate for the host name (SNI included): only
the TCP connection is pinned to the checked address.

Refused: loopback, link-local, private (RFC 1918, IPv6 ULA), unspecified, multicast, reserved
and every other non-public range, and the cloud metadata addresses. Hosts listed in the
`AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS` setting ("name" for any port, "name:port" for one
port; IPv6 as "[::1]" or "[::1]:8000") skip the address check: the local demo's sandbox and
the test servers run on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from apps.core import conf

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

CLOUD_METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack...
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    }
)
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
DEFAULT_PORTS = {"http": 80, "https": 443}


class OutboundAddressRefused(Exception):
    """A request aimed at an address the policy refuses. A configuration error: retrying the
    same URL gives the same answer, so callers fail without retrying."""

    def __init__(self, reason: str):
        super().__init__(f"refused by the outbound address policy: {reason}")
        self.reason = reason


# ---------------------------------------------------------------------------------------------
# Addresses and hosts


def address_refusal(address: str | Address) -> str | None:
    """Why the policy refuses this IP address ("10.0.0.1 is a private address"), or None."""
    refused = _refused_kind(address)
    return f"{refused[0]} is {refused[1]}" if refused else None


def _refused_kind(address: str | Address) -> tuple[Address, str] | None:
    """(the address as checked, what kind of refused address it is), or None when allowed."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
    kind = _address_kind(ip)
    return (ip, kind) if kind else None


def _address_kind(ip: Address) -> str | None:
    if ip in CLOUD_METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (any(ip in network for network in PRIVATE_NETWORKS), "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((kind for refused, kind in checks if refused), None)


def _split_host_port(entry: str) -> tuple[str, int | None]:
    """ "name" / "name:port" / "[v6]" / "[v6]:port" / a bare IPv6 address -> (host, port)."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port) if port.isdigit() else None
    return entry, None


def _normal_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def host_is_allowed(host: str, port: int | None) -> bool:
    """True when the setting lists this host (for any port, or for this port)."""
    host = _normal_host(host)
    for entry in conf.items("AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS"):
        allowed_host, allowed_port = _split_host_port(entry)
        if _normal_host(allowed_host) == host and allowed_port in (None, port):
            return True
    return False


def checked_addresses(host: str, port: int) -> list[str]:
    """Resolve `host` now and return its addresses, all of them checked: one refused address
    refuses the host (a name that also resolves inward is not trusted)."""
    found = socket.getaddrinfo(
        host, port, urllib3_connection.allowed_gai_family(), socket.SOCK_STREAM
    )
    addresses = list(dict.fromkeys(sockaddr[0] for *_, sockaddr in found))
    if host_is_allowed(host, port):
        return addresses
    for address in addresses:
        refused = _refused_kind(address)
        if refused is None:
            continue
        ip, kind = refused
        if _normal_host(host) == address.lower():
            raise OutboundAddressRefused(f"{ip} is {kind}")
        raise OutboundAddressRefused(f"{host} resolves to {ip}, {kind}")
    return addresses


def url_refusal(url: str) -> str | None:
    """Save-time check of a URL, without DNS: why a literal address (or localhost) in it is
    refused, or None. The send-time check is the guarantee; this only warns early."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not host or host_is_allowed(host, port):
        return None
    if _normal_host(host) == "localhost" or _normal_host(host).endswith(".localhost"):
        return f"{host} is a loopback address"
    try:
        return address_refusal(_normal_host(host))
    except ValueError:
        return None  # a name: checked when sending


def url_refusal_message(url: str) -> str | None:
    """`url_refusal` as a form error for the admin forms that save an outbound URL."""
    reason = url_refusal(url)
    if reason is None:
        return None
    return (
        f"Refused by the outbound address policy: {reason}. Use the receiver's public address, "
        "or list the host in AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS if it is meant."
    )


# ---------------------------------------------------------------------------------------------
# Connections that connect only to checked addresses


def connect_to(
    address: str, port: int, *, timeout, source_address=None, socket_options=None
) -> socket.socket:
    """Open the TCP connection to one checked IP address (no name lookup happens here)."""
    return urllib3_connection.create_connection(
        (address, port), timeout, source_address=source_address, socket_options=socket_options
    )


class _CheckedConnectionMixin:
    """urllib3's `_new_conn`, resolving and checking the host first, then connecting to the
    checked addresses in turn. The host name stays the connection's host: Host header, SNI and
    certificate verification are unchanged."""

    def _new_conn(self) -> socket.socket:
        try:
            addresses = checked_addresses(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        error: OSError | None = None
        for address in addresses:
            try:
                sock = connect_to(
                    address,
                    self.port,
                    timeout=self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                error = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error


class CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class PolicyAdapter(HTTPAdapter):
    """A requests transport adapter whose connections obey the policy."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": CheckedHTTPConnectionPool,
            "https": CheckedHTTPSConnectionPool,
        }

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        # Through a proxy, the proxy would connect to the target: the policy could not check it.
        raise OutboundAddressRefused(f"requests through a proxy ({proxy}) cannot be checked")


def policy_session() -> requests.Session:
    """A requests session whose every connection goes through the policy. Proxies from the
    environment are not used (see PolicyAdapter.proxy_manager_for)."""
    session = requests.Session()
    session.trust_env = False
    adapter = PolicyAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
