"""The one dnspython adapter: an asyncio stub resolver with one cache per fleet run.

It sends queries itself (one UDP socket per name server, TCP on truncation), retries on timeout,
follows CNAME chains even when the server is authoritative only (so it works against knot in
tests and a recursive resolver in production), and returns an :class:`Answer` whose status keeps
"no record" (``nxdomain``/``nodata``) apart from "DNS failed" (``error``). Every
``(name, type)`` is asked at most once per :class:`Resolver`: concurrent askers share the
in-flight query. Nothing here is process-global, so two tenants' runs never share a cache.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import dns.exception

from msp.dns import wire

if TYPE_CHECKING:
    import dns.message
    import dns.rrset

# The hot path is msp.dns.wire; dnspython's message classes (and dns.asyncquery, which pulls
# its DNS-over-HTTPS client) are imported only on the rare paths that need them (a truncated
# answer, a response the codec does not read, an error code), so `msp check` and every command
# that only reads the settings start without them (tests/test_cli_lazy.py).

MAX_CNAME_HOPS = 8


class Status(StrEnum):
    ANSWER = "answer"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    ERROR = "error"


@dataclass(frozen=True)
class Nameserver:
    host: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        """``IP``, ``IP:PORT``, ``[IPv6]:PORT`` or a bare IPv6 address."""
        text = text.strip()
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            return cls(host, int(rest.lstrip(":") or 53))
        if text.count(":") == 1:
            host, port = text.split(":")
            return cls(host, int(port))
        return cls(text)


@dataclass(frozen=True)
class ResolverSettings:
    nameservers: tuple[Nameserver, ...] = (Nameserver("127.0.0.1", 53),)
    timeout: float = 2.0
    retries: int = 2
    max_in_flight: int = 64


@dataclass(frozen=True)
class Answer:
    """What one lookup found. ``records`` are TXT strings joined per RR, or rdata text."""

    name: str
    rdtype: str
    status: Status
    records: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    error: str = ""
    wire_size: int = 0

    @property
    def failed(self) -> bool:
        return self.status is Status.ERROR

    @property
    def void(self) -> bool:
        """NXDOMAIN or an empty NOERROR answer (RFC 7208 4.6.4 void lookup)."""
        return self.status in (Status.NXDOMAIN, Status.NODATA)


@dataclass
class ResolverStats:
    queries: int = 0
    lookups: int = 0
    cache_hits: int = 0
    timeouts: int = 0


class DnsTransportError(Exception):
    """A query got no usable response from any name server."""


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.pending: dict[int, asyncio.Future[bytes]] = {}

    def datagram_received(self, data: bytes, addr: object) -> None:
        if len(data) < 12:
            return
        future = self.pending.pop(int.from_bytes(data[:2], "big"), None)
        if future is not None and not future.done():
            future.set_result(data)

    def error_received(self, exc: Exception) -> None:  # ICMP errors: the timeout handles them
        return


@dataclass
class _Channel:
    server: Nameserver
    transport: asyncio.DatagramTransport
    protocol: _UdpProtocol


@dataclass
class Resolver:
    """One fleet run's resolver: owns its sockets, its cache and its counters."""

    settings: ResolverSettings = field(default_factory=ResolverSettings)
    stats: ResolverStats = field(default_factory=ResolverStats)
    _cache: dict[tuple[str, str], asyncio.Future[Answer]] = field(default_factory=dict)
    _channels: list[_Channel] = field(default_factory=list)
    _gate: asyncio.Semaphore | None = None

    async def close(self) -> None:
        for channel in self._channels:
            channel.transport.close()
        self._channels.clear()

    async def lookup(self, name: str, rdtype: str) -> Answer:
        """The answer for ``name``/``rdtype``, asked once per resolver (cached, shared)."""
        key = (name.lower().rstrip("."), rdtype.upper())
        self.stats.lookups += 1
        cached = self._cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            if cached.done():
                return cached.result()
            return await asyncio.shield(cached)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._cache[key] = future
        try:
            answer = await self._resolve(key[0], key[1])
        except Exception as exc:  # never leave sharers waiting
            answer = Answer(key[0], key[1], Status.ERROR, error=f"{type(exc).__name__}: {exc}")
        future.set_result(answer)
        return answer

    async def _resolve(self, name: str, rdtype: str) -> Answer:
        chain: list[str] = []
        target = name
        for _ in range(MAX_CNAME_HOPS):
            try:
                response = await self._exchange(target, rdtype)
            except DnsTransportError as exc:
                return Answer(name, rdtype, Status.ERROR, cname_chain=tuple(chain), error=str(exc))
            outcome = _read_response(response, target, rdtype, chain)
            if outcome is not None:
                status, records, error = outcome
                return Answer(name, rdtype, status, records, tuple(chain), error, response.size)
            target = chain[-1]
        return Answer(
            name, rdtype, Status.ERROR, cname_chain=tuple(chain), error="CNAME chain too long"
        )

    async def _exchange(self, name: str, rdtype: str) -> wire.Response:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.settings.max_in_flight)
        errors: list[str] = []
        async with self._gate:
            for _attempt in range(self.settings.retries + 1):
                for channel in await self._open_channels():
                    try:
                        return await self._udp(channel, name, rdtype)
                    except (TimeoutError, dns.exception.DNSException, OSError) as exc:
                        if isinstance(exc, TimeoutError):
                            self.stats.timeouts += 1
                        errors.append(
                            f"{channel.server.host}:{channel.server.port}: {type(exc).__name__}"
                        )
        raise DnsTransportError("; ".join(errors[-3:]) or "no name server")

    async def _udp(self, channel: _Channel, name: str, rdtype: str) -> wire.Response:
        pending = channel.protocol.pending
        qid = random.randrange(65536)
        while qid in pending:
            qid = random.randrange(65536)
        query = wire.encode_query(qid, name, rdtype)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        pending[qid] = future
        self.stats.queries += 1
        # call_later instead of asyncio.wait_for: no extra task per query on the hot path
        expiry = asyncio.get_running_loop().call_later(self.settings.timeout, _expire, future)
        try:
            channel.transport.sendto(query)
            data = await future
        finally:
            expiry.cancel()
            pending.pop(qid, None)
        response = _decode(data)
        if response.question != (name, wire.TYPES[rdtype]):
            raise dns.exception.FormError(  # type: ignore[no-untyped-call]  # untyped __init__
                "response does not match the query"
            )
        if response.truncated:
            self.stats.queries += 1
            response = await _tcp(query, channel.server, self.settings.timeout)
        return response

    async def _open_channels(self) -> list[_Channel]:
        if not self._channels:
            loop = asyncio.get_running_loop()
            for server in self.settings.nameservers:
                transport, protocol = await loop.create_datagram_endpoint(
                    _UdpProtocol, remote_addr=(server.host, server.port)
                )
                self._channels.append(_Channel(server, transport, protocol))
        return self._channels


async def _tcp(query: bytes, server: Nameserver, timeout: float) -> wire.Response:
    """The query again over TCP (the UDP answer was truncated)."""
    import dns.asyncquery
    import dns.message

    message = await dns.asyncquery.tcp(
        dns.message.from_wire(query), server.host, timeout=timeout, port=server.port
    )
    return _decode(message.to_wire())


def _expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _decode(data: bytes) -> wire.Response:
    """The fast codec, or dnspython for anything it does not handle."""
    try:
        return wire.decode_response(data)
    except wire.WireError:
        import dns.message

        return _from_dnspython(dns.message.from_wire(data), len(data))


def _from_dnspython(message: dns.message.Message, size: int) -> wire.Response:
    import dns.rdatatype

    question = message.question[0]
    answer = tuple(
        wire.Record(rrset.name.to_text(omit_final_dot=True).lower(), rrset.rdtype, text)
        for rrset in message.answer
        for text in _texts(rrset)
    )
    soa = tuple(
        rrset.name.to_text(omit_final_dot=True).lower()
        for rrset in message.authority
        if rrset.rdtype == dns.rdatatype.SOA
    )
    name = question.name.to_text(omit_final_dot=True).lower()
    return wire.Response(
        message.id, message.flags, message.rcode(), (name, question.rdtype), answer, soa, size
    )


_Outcome = tuple[Status, tuple[str, ...], str]


def _read_response(
    response: wire.Response, target: str, rdtype: str, chain: list[str]
) -> _Outcome | None:
    """Status and records for ``target``; ``None`` means "follow the CNAME appended to chain"."""
    if response.rcode not in (0, 3):
        import dns.rcode

        return Status.ERROR, (), dns.rcode.to_text(dns.rcode.Rcode(response.rcode))
    wanted = wire.TYPES[rdtype]
    current, seen = target, {target}
    while True:
        records = tuple(r.data for r in response.answer if r.name == current and r.rdtype == wanted)
        if records:
            return Status.ANSWER, records, ""
        alias = next(
            (r.data for r in response.answer if r.name == current and r.rdtype == wire.CNAME), None
        )
        if alias is None or wanted == wire.CNAME:
            break
        current = alias.rstrip(".")
        chain.append(current)
        if current in seen:
            return Status.ERROR, (), "CNAME loop"
        seen.add(current)
    if response.rcode == 3:
        return Status.NXDOMAIN, (), ""
    if current != target and not any(_within(current, owner) for owner in response.soa_owners):
        return None  # the chain leaves the zone: ask for the target itself
    return Status.NODATA, (), ""


def _within(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone) or zone == ""


def _texts(rrset: dns.rrset.RRset) -> tuple[str, ...]:
    import dns.rdatatype

    if rrset.rdtype in (dns.rdatatype.TXT, dns.rdatatype.SPF):
        return tuple(b"".join(rd.strings).decode("utf-8", "replace") for rd in rrset)
    return tuple(rd.to_text() for rd in rrset)


class InvalidDomainName(ValueError):
    """Not a usable DNS name."""


def normalize_domain(text: str) -> str:
    """Lower-case A-label form without the final dot; raises InvalidDomainName."""
    import dns.name

    text = text.strip().rstrip(".")
    try:
        name = dns.name.from_text(text)
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise InvalidDomainName(f"{text!r}: {exc}") from exc
    result = name.to_text(omit_final_dot=True).lower()
    if len(name.labels) < 3 or not all(
        label.replace(b"-", b"").replace(b"_", b"").isalnum() for label in name.labels[:-1]
    ):
        raise InvalidDomainName(f"{text!r} is not a domain name with at least two labels")
    return result


def system_nameservers() -> tuple[Nameserver, ...]:
    """The host's resolvers from /etc/resolv.conf (for the CLI when none is given)."""
    import dns.resolver  # only the CLI without --nameserver needs it

    try:
        found = dns.resolver.Resolver(configure=True).nameservers
    except dns.exception.DNSException:
        found = []
    return tuple(Nameserver(str(n)) for n in found) or (Nameserver("127.0.0.1"),)
