"""The reports area's dnspython adapter: one short PTR lookup per call, for sender enrichment."""

from __future__ import annotations

import dns.exception
import dns.resolver
import dns.reversename

from msp.reports.senders import PtrResolver


def ptr_resolver(
    nameservers: list[str] | None = None, port: int = 53, timeout: float = 1.0
) -> PtrResolver:
    """A callable ``ip -> host name | None`` with a per-lookup time limit."""
    resolver = dns.resolver.Resolver(configure=not nameservers)
    if nameservers:
        resolver.nameservers = nameservers
        resolver.port = port
    resolver.lifetime = timeout
    resolver.timeout = timeout

    def lookup(ip: str) -> str | None:
        try:
            answer = resolver.resolve(dns.reversename.from_address(ip), "PTR")
        except (dns.exception.DNSException, ValueError):
            return None
        for rdata in answer:
            return str(rdata.target).rstrip(".").lower()
        return None

    return lookup
