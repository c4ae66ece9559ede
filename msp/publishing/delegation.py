"""The delegation check: whether a delegated client has published its one-time CNAMEs
(``_dmarc``, ``_smtp._tls``, ``_mta-sts`` pointing into the MSP's hosted zone).

The publisher asks before it writes a delegated domain's record: a record written into the
MSP's zone is seen by nobody until the client's CNAME points at it, so publishing waits (and
says which CNAME is missing and its exact value) instead of writing and then never verifying.
The lookups go to the same resolvers as the DNS checks (``MSP_DNS_*``), through the DNS area's
resolver (the one dnspython adapter).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from msp.dns.resolver import Resolver, Status
from msp.dns.settings import checker_options

DELEGATED_LABELS = ("_dmarc", "_smtp._tls", "_mta-sts")


@dataclass(frozen=True)
class CnameCheck:
    """One CNAME the client publishes once: ``value`` is what it must point at, ``found``
    what it points at now (None: no CNAME), ``error`` set when DNS did not answer."""

    name: str
    value: str
    found: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.found is not None and _same(self.found, self.value)

    @property
    def problem(self) -> str | None:
        """What is wrong, in words for a technician (None when the CNAME is right)."""
        if self.ok:
            return None
        wanted = f"publish {self.name} CNAME {self.value}"
        if self.error:
            return f"{self.name} could not be looked up ({self.error}): {wanted}"
        if self.found is None:
            return f"{self.name} has no CNAME yet: {wanted}"
        return f"{self.name} points at {self.found}. instead: {wanted}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": "CNAME",
            "value": self.value,
            "found": self.found,
            "ok": self.ok,
            "problem": self.problem,
        }


def _same(a: str, b: str) -> bool:
    return a.rstrip(".").lower() == b.rstrip(".").lower()


def cname_for(domain: str, label: str, hosted_zone: str) -> tuple[str, str]:
    """The CNAME ``label.domain`` -> ``domain.label.hosted_zone.`` (name, value)."""
    return f"{label}.{domain}", f"{domain}.{label}.{hosted_zone}."


def label_of(name: str, domain: str) -> str | None:
    """The delegated label ``name`` is under (``_dmarc.example.com`` -> ``_dmarc``)."""
    return next((label for label in DELEGATED_LABELS if name == f"{label}.{domain}"), None)


async def _lookups(names: list[str], config: Mapping[str, Any]) -> list[tuple[Status, str, str]]:
    resolver = Resolver(checker_options(config).resolver)
    try:
        answers = await asyncio.gather(*(resolver.lookup(n, "CNAME") for n in names))
    finally:
        await resolver.close()
    return [(a.status, a.records[0] if a.records else "", a.error) for a in answers]


def check(
    domain: str,
    hosted_zone: str,
    config: Mapping[str, Any],
    labels: Iterable[str] = DELEGATED_LABELS,
) -> list[CnameCheck]:
    """Look up the client's CNAMEs for ``labels`` (all three by default)."""
    wanted = [cname_for(domain, label, hosted_zone) for label in labels]
    found = asyncio.run(_lookups([name for name, _ in wanted], config))
    return [
        CnameCheck(
            name,
            value,
            target.rstrip(".") or None if status is Status.ANSWER else None,
            error or None if status is Status.ERROR else None,
        )
        for (name, value), (status, target, error) in zip(wanted, found, strict=True)
    ]
