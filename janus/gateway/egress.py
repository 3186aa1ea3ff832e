"""Egress policy: where upstream and OAuth token requests may connect.

Always refused: link-local addresses (169.254.0.0/16, fe80::/10) and the cloud
metadata services (169.254.169.254, fd00:ec2::254, 100.100.100.200,
metadata.google.internal, …): a connection pointed there would hand the
instance's cloud credentials to whoever can call its tools.

EGRESS_ALLOWLIST (CIDRs and host names, "*.example.com" for a domain's
subdomains) restricts everything else when set: an address must be in one of
the CIDRs, or the host name must be listed (a listed name trusts its DNS, but
never for the always-refused addresses). Unset, any other address is allowed,
loopback included (the demo and the tests).

The check runs where the socket is opened (GuardedHTTPConnection._new_conn):
the host name is resolved once, every resolved address is checked, and the
socket connects to those checked addresses, so no DNS answer that changed
since registration (rebinding) slips through. Through an HTTP proxy Janus does
not resolve the target; then only the name (or literal address) is checked
and, with an allowlist, a name must be listed.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import sys
from collections.abc import Iterable
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from janus.gateway.cancel_scope import CancellableConnection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

LINK_LOCAL = tuple(ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10"))
METADATA_ADDRESSES = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack, DigitalOcean …
        "fd00:ec2::254/128",  # AWS IMDS over IPv6
        "100.100.100.200/32",  # Alibaba Cloud
        "64:ff9b::a9fe:0/112",  # 169.254.0.0/16 through NAT64
        "2002:a9fe::/32",  # 169.254.0.0/16 through 6to4
    )
)
METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_NAME = re.compile(r"(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


class EgressRefused(Exception):
    """The policy refuses this destination; the message names the host and why (never a secret)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"destination '{host}' refused: {reason}")
        self.host = host
        self.reason = reason


def _address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
    return address


def _bare(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def parse_allowlist(entries: str | Iterable[str]) -> tuple[tuple[IPNetwork, ...], tuple[str, ...]]:
    """CIDRs (or single addresses) and host names; ValueError names an entry that is neither."""
    if isinstance(entries, str):
        entries = entries.split(",")
    networks: list[IPNetwork] = []
    names: list[str] = []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        if "/" in entry or _address(entry) is not None or ":" in entry:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                raise ValueError(f"EGRESS_ALLOWLIST entry {raw.strip()!r} is not a valid CIDR or address") from None
        elif _NAME.fullmatch(entry.rstrip(".")):
            names.append(entry.rstrip("."))
        else:
            raise ValueError(f"EGRESS_ALLOWLIST entry {raw.strip()!r} is not a CIDR, an address or a host name")
    return tuple(networks), tuple(names)


class EgressPolicy:
    """Decides whether a host and its addresses may be connected to; cheap and immutable once built."""

    def __init__(self, allowlist: str | Iterable[str] = ()) -> None:
        self.networks, self.names = parse_allowlist(allowlist)

    @property
    def restricted(self) -> bool:
        return bool(self.networks or self.names)

    def name_listed(self, host: str) -> bool:
        name = _bare(host)
        return any(name == n or (n.startswith("*.") and name.endswith(n[1:])) for n in self.names)

    def check_name(self, host: str) -> None:
        """Refuse a metadata host name, or a literal address the policy refuses (before any DNS)."""
        name = _bare(host)
        if name in METADATA_NAMES:
            raise EgressRefused(host, "it is a cloud metadata service")
        address = _address(name)
        if address is not None:
            self.check_address(host, address, listed=False)

    def check_address(self, host: str, address: IPAddress, *, listed: bool) -> None:
        if any(address in n for n in METADATA_ADDRESSES if n.version == address.version):
            raise EgressRefused(host, f"{address} is a cloud metadata address")
        if any(address in n for n in LINK_LOCAL if n.version == address.version):
            raise EgressRefused(host, f"{address} is a link-local address")
        if (
            self.restricted
            and not listed
            and not any(address in n for n in self.networks if n.version == address.version)
        ):
            raise EgressRefused(host, f"{address} is not in EGRESS_ALLOWLIST")

    def resolve(self, host: str, port: int) -> list[tuple[Any, ...]]:
        """getaddrinfo for host, every answer checked: all must pass, or none is connected to."""
        self.check_name(host)
        listed = self.name_listed(host)
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        for info in infos:
            address = _address(str(info[4][0]))
            if address is None:  # not an IP family we know how to judge
                raise EgressRefused(host, f"it resolved to an address of an unknown family ({info[0]!r})")
            self.check_address(host, address, listed=listed)
        return infos

    def check_proxied(self, host: str) -> None:
        """Through a proxy the target is not resolved here: judge the name (or literal) alone."""
        self.check_name(host)
        if self.restricted and _address(_bare(host)) is None and not self.name_listed(host):
            raise EgressRefused(
                host,
                "it is not listed in EGRESS_ALLOWLIST (requests go through a proxy, so its address cannot be checked)",
            )

    def registration_problem(self, host: str) -> str | None:
        """Why a base URL's host is refused before any DNS (metadata name, refused literal), or None."""
        try:
            self.check_name(host)
        except EgressRefused as exc:
            return exc.reason
        return None

    @functools.cached_property
    def pool_classes(self) -> dict[str, type[urllib3.HTTPConnectionPool]]:
        """urllib3 pool classes whose connections go through this policy (PoolManager.pool_classes_by_scheme)."""
        # Cancellable too: a client's cancellation shuts the socket in use down (cancel_scope.py).
        http = type(
            "GuardedHTTPConnection", (CancellableConnection, _GuardedConnection, HTTPConnection), {"egress": self}
        )
        https = type(
            "GuardedHTTPSConnection", (CancellableConnection, _GuardedConnection, HTTPSConnection), {"egress": self}
        )
        return {
            "http": type("GuardedHTTPConnectionPool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSConnectionPool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


class _GuardedConnection:
    """Opens its socket only to addresses the policy accepts (mixed into urllib3's connections)."""

    egress: EgressPolicy
    # Provided by urllib3.HTTPConnection:
    _dns_host: str
    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        try:
            infos = self.egress.resolve(self._dns_host, self.port)
        except socket.gaierror as e:
            raise NameResolutionError(self.host, self, e) from e  # type: ignore[arg-type]  # self is an HTTPConnection once mixed in
        try:
            sock = self._connect_first(infos)
        except TimeoutError as e:
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from e
        except OSError as e:
            message = f"Failed to establish a new connection: {e}"
            raise NewConnectionError(self, message) from e  # type: ignore[arg-type]  # as above: mixed into HTTPConnection
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock

    def _connect_first(self, infos: list[tuple[Any, ...]]) -> socket.socket:
        """Like socket.create_connection, but only to the addresses already checked."""
        error: OSError | None = None
        for family, socktype, proto, _, sockaddr in infos:
            sock = None
            try:
                sock = socket.socket(family, socktype, proto)
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if self.timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                error = exc
                if sock is not None:
                    sock.close()
        raise error if error is not None else OSError("getaddrinfo returned an empty list")
