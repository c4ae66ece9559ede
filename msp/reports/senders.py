"""Source IP -> sending service: reverse DNS base domain, parsedmarc's catalogue, ASN fallback.

Owns the naming rule for senders (the key a domain's sender list is grouped by) and a bounded,
time-limited, per-instance cache. Reverse DNS comes from a resolver callable given by the caller,
so this module does no I/O of its own and never runs inside ingestion: the enrichment job calls
:meth:`SenderIdentifier.identify_many` with a deadline and leaves the rest for its next run.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from msp.reports.parsing import NetworkInfo, Service

PtrResolver = Callable[[str], str | None]
NetworkLookup = Callable[[str], NetworkInfo]


class SenderIdentity(NamedTuple):
    """Who an IP address sends for. ``complete`` is False when reverse DNS was not tried."""

    ip: str
    key: str
    name: str
    service_type: str | None
    ptr: str | None
    base_domain: str | None
    asn: int | None
    as_name: str | None
    country: str | None
    complete: bool


def sender_key(
    ip: str,
    base: str | None,
    network: NetworkInfo,
    catalogue: Mapping[str, Service],
) -> tuple[str, str, str | None]:
    """(key, display name, service type) for an IP by the naming rule documented above."""
    if base:
        service = catalogue.get(base)
        return base, (service.name if service else base), (service.type if service else None)
    if network.as_domain:
        domain = network.as_domain.lower()
        service = catalogue.get(domain)
        if service:
            return domain, service.name, service.type
        return domain, network.as_name or domain, None
    return f"ip:{ip}", ip, None


class SenderIdentifier:
    """Identifies IPs with a bounded TTL cache; reverse DNS only within a time budget."""

    def __init__(
        self,
        *,
        catalogue: Mapping[str, Service],
        network: NetworkLookup,
        base_domain: Callable[[str], str | None],
        ptr: PtrResolver | None = None,
        cache_size: int = 100_000,
        ttl_seconds: float = 6 * 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._catalogue = catalogue
        self._network = network
        self._base_domain = base_domain
        self._ptr = ptr
        self._cache: OrderedDict[str, tuple[float, SenderIdentity]] = OrderedDict()
        self._cache_size = cache_size
        self._ttl = ttl_seconds
        self._clock = clock

    def _cached(self, ip: str, now: float) -> SenderIdentity | None:
        hit = self._cache.get(ip)
        if hit is None or now - hit[0] > self._ttl:
            return None
        self._cache.move_to_end(ip)
        return hit[1]

    def _remember(self, identity: SenderIdentity, now: float) -> None:
        self._cache[identity.ip] = (now, identity)
        self._cache.move_to_end(identity.ip)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def identify(
        self, ip: str, *, use_dns: bool = True, now: float | None = None
    ) -> SenderIdentity:
        now = self._clock() if now is None else now
        cached = self._cached(ip, now)
        if cached is not None and (cached.complete or not use_dns):
            return cached
        ptr = self._lookup_ptr(ip) if use_dns and self._ptr is not None else None
        base = self._base_domain(ptr) if ptr else None
        network = self._network(ip)
        key, name, service_type = sender_key(ip, base, network, self._catalogue)
        identity = SenderIdentity(
            ip,
            key,
            name,
            service_type,
            ptr,
            base,
            network.asn,
            network.as_name,
            network.country,
            use_dns or self._ptr is None,
        )
        self._remember(identity, now)
        return identity

    def _lookup_ptr(self, ip: str) -> str | None:
        assert self._ptr is not None
        try:
            return self._ptr(ip)
        except Exception:  # a resolver failure degrades to the ASN fallback, never an error
            return None

    def identify_many(self, ips: Iterable[str], *, deadline: float) -> list[SenderIdentity]:
        """Identify each IP; after ``deadline`` (a ``clock()`` value) skip reverse DNS."""
        if self._ptr is None:  # nothing slow to bound: one clock reading for the whole chunk
            now = self._clock()
            return [self.identify(ip, use_dns=False, now=now) for ip in ips]
        out = []
        for ip in ips:
            now = self._clock()
            out.append(self.identify(ip, use_dns=now < deadline, now=now))
        return out
