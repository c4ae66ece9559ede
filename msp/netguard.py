"""The one guard for outbound connections to addresses a tenant chose (SSRF defence).

Owns the rule "which IP addresses may this service connect to on a tenant's behalf" and the
ways of connecting that apply it where it counts, at connect time, to the resolved addresses:
a host name that resolves to a refused address (directly, or hidden in an IPv6 form) is never
connected to, and the connection goes to the address that was checked (no second lookup that
a rebinding DNS server could answer differently).

Refused unless the allow-list says otherwise: private, loopback, link-local, shared (CGNAT),
multicast, reserved and unspecified addresses, the cloud metadata address 169.254.169.254, and
IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible
``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo ``2001::/32``) whose IPv4
address is refused; the deprecated IPv4-compatible range and local-use NAT64 ``64:ff9b:1::/48``
are refused whatever they carry.

API (for IMAP here; webhooks and MTA-STS fetches switch to it):

- ``Guard(allow=(networks...), allow_private=False)`` or ``Guard.from_config(app.config)``
  (``MSP_OUTBOUND_ALLOW``: CIDRs; ``MSP_WEBHOOK_ALLOW_PRIVATE``: every non-public address but
  the metadata service).
- ``guard.allowed(address) -> bool``, ``guard.check_address(address)`` (raises).
- ``guard.check_host(host, port) -> list[str]``: resolve, check every address (one refused
  address refuses the host), return them in resolver order.
- ``guard.connect(host, port, timeout) -> socket``: a TCP connection to a checked address (TLS,
  if any, is wrapped by the caller with ``server_hostname=host``).
- ``guard.transport(**httpx_options) -> httpx.HTTPTransport``: requests go to the checked
  address with ``Host`` and TLS SNI set to the URL's host name; redirects stay the client's
  business (keep ``follow_redirects=False``).

:class:`BlockedAddress` is raised for a refused address; its message names the host, never
anything a remote server said.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.ip_network("::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, not private but not public


class BlockedAddress(Exception):
    """The host resolves to an address outbound connections may not reach."""


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver, in its order, without duplicates."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address, the one traffic ends up at
    return None


def _public(ip: IPAddress) -> bool:
    if ip in METADATA:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _COMPATIBLE or ip in _NAT64_LOCAL:
            return False
        inner = embedded_ipv4(ip)
        if inner is not None:  # judged by where the traffic really goes (NAT64 is in ::/8)
            return _public(inner)
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return False
    return ip.is_global


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs (or single addresses) from a setting; a bad one raises ValueError."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


@dataclass(frozen=True)
class Guard:
    """Which addresses outbound connections may reach: public ones, plus the allow-list."""

    allow: tuple[IPNetwork, ...] = ()
    allow_private: bool = False  # labs and tests: every address but multicast and metadata
    resolver: Resolver = system_resolver

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> Guard:
        raw = config.get("MSP_OUTBOUND_ALLOW") or ()
        values = raw.split(",") if isinstance(raw, str) else list(raw)
        options: dict[str, Any] = {
            "allow": parse_networks(values),
            "allow_private": bool(config.get("MSP_WEBHOOK_ALLOW_PRIVATE")),
        }
        return cls(**{**options, **overrides})

    def allowed(self, address: str) -> bool:
        """Whether a connection to this literal address is allowed."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        candidates = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
            candidates.append(inner)
        if any(c in net for c in candidates for net in self.allow if c.version == net.version):
            return True
        if self.allow_private:
            return not (
                ip.is_multicast or ip.is_unspecified or any(c in METADATA for c in candidates)
            )
        return _public(ip)

    def check_address(self, address: str, host: str | None = None) -> str:
        if not self.allowed(address):
            raise BlockedAddress(f"{host or address} resolves to a blocked address ({address})")
        return address

    def check_host(self, host: str, port: int) -> list[str]:
        """The host's addresses, each checked; one refused address refuses the host."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            addresses = list(self.resolver(host, port))
        else:
            addresses = [str(literal)]
        if not addresses:
            raise OSError(f"{host} has no address")
        return [self.check_address(a, host) for a in addresses]

    def connect(self, host: str, port: int, timeout: float | None = None) -> socket.socket:
        """A TCP connection to the first checked address of ``host`` that answers."""
        last: OSError | None = None
        for address in self.check_host(host, port):
            try:
                return socket.create_connection((address, port), timeout=timeout)
            except OSError as exc:
                last = exc
        assert last is not None
        raise last

    def transport(self, **options: Any) -> httpx.HTTPTransport:
        """An httpx transport whose requests go only to checked addresses."""
        return GuardedTransport(self, **options)


class GuardedTransport(httpx.HTTPTransport):
    """Rewrites each request to the host's first checked address; Host and SNI keep the name."""

    def __init__(self, guard: Guard, **options: Any) -> None:
        super().__init__(**options)
        self._guard = guard

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host
        port = url.port or (443 if url.scheme == "https" else 80)
        address = self._guard.check_host(host, port)[0]
        request.url = url.copy_with(host=address)
        request.headers.setdefault("Host", url.netloc.decode("ascii"))
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        return super().handle_request(request)
