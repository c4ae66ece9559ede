"""check_domain / check_fleet: every record of every domain, concurrently, one cache per run.

The core needs neither Flask nor a database. A fleet run owns one :class:`Resolver` and one
:class:`HttpsFetcher`, checks up to ``options.concurrency`` domains at once, and returns one
:class:`DomainResult` per domain with the same shape whatever happened (a failure is a finding).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from msp.dns.bimi import BimiResult, check_bimi
from msp.dns.dkim import DkimKey, check_dkim
from msp.dns.dmarc import DmarcResult, check_dmarc
from msp.dns.findings import Finding, finding
from msp.dns.grade import grade
from msp.dns.http import HttpsFetcher
from msp.dns.mta_sts import MtaStsResult, check_mta_sts
from msp.dns.mx import MxResult, check_mx
from msp.dns.options import CheckOptions
from msp.dns.resolver import Answer, Resolver, ResolverStats, Status, normalize_domain
from msp.dns.spf import SpfResult, check_spf
from msp.dns.tls_rpt import TlsRptResult, check_tls_rpt

T = TypeVar("T")


@dataclass(frozen=True)
class DomainRequest:
    domain: str
    selectors: tuple[str, ...] = ()
    reported_selectors: tuple[str, ...] = ()
    parked: bool = False


@dataclass(frozen=True)
class DomainResult:
    domain: str
    checked_at: datetime
    spf: SpfResult
    dmarc: DmarcResult
    dkim: dict[str, DkimKey]
    mx: MxResult
    mta_sts: MtaStsResult
    tls_rpt: TlsRptResult
    bimi: BimiResult
    findings: tuple[Finding, ...]
    grade: str

    def as_dict(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "checked_at": self.checked_at.isoformat(),
            "spf": self.spf.as_dict(),
            "dmarc": self.dmarc.as_dict(),
            "dkim": {s: k.as_dict() for s, k in self.dkim.items()},
            "mx": self.mx.as_dict(),
            "mta_sts": self.mta_sts.as_dict(),
            "tls_rpt": self.tls_rpt.as_dict(),
            "bimi": self.bimi.as_dict(),
            "findings": [f.as_dict() for f in self.findings],
            "grade": self.grade,
        }


@dataclass(frozen=True)
class FleetRun:
    results: tuple[DomainResult, ...]
    stats: ResolverStats
    seconds: float


@dataclass
class _Context:
    resolver: Resolver
    fetcher: HttpsFetcher
    options: CheckOptions
    findings: list[Finding] = field(default_factory=list)


async def _guarded(
    ctx: _Context, name: str, work: Awaitable[tuple[T, list[Finding]]], fallback: Callable[[], T]
) -> T:
    """Run one section; an unexpected exception becomes a ``check_failed`` finding."""
    try:
        value, found = await work
    except Exception as exc:  # one shape whatever happens: never lose the other sections
        ctx.findings.append(finding("check_failed", f"{name}: {type(exc).__name__}: {exc}"))
        return fallback()
    ctx.findings.extend(found)
    return value


async def _check(
    resolver: Resolver, fetcher: HttpsFetcher, options: CheckOptions, request: DomainRequest
) -> DomainResult:
    domain = normalize_domain(request.domain)
    ctx = _Context(resolver, fetcher, options)
    txt, rr99 = await asyncio.gather(
        resolver.lookup(domain, "TXT"),
        resolver.lookup(domain, "SPF") if options.check_rr_type_spf else _none(),
    )
    spf, dmarc, mx, dkim, tls_rpt = await _dns_sections(ctx, request, domain, txt, rr99)
    mta_sts, bimi = await _https_sections(ctx, domain, mx, dmarc)
    testing = mta_sts.policy is not None and mta_sts.policy.mode == "testing"
    if testing and tls_rpt.status != "valid":
        ctx.findings.append(finding("mta_sts_testing_without_tlsrpt", domain))
    if request.parked:
        ctx.findings.extend(parked_findings(spf, dmarc, mx))
    findings = tuple(_dedupe(ctx.findings))
    letter = grade(findings, dmarc.policy_applied.policy, spf.valid, dmarc.status == "unknown")
    return DomainResult(
        domain, datetime.now(UTC), spf, dmarc, dkim, mx, mta_sts, tls_rpt, bimi, findings, letter
    )


async def _dns_sections(
    ctx: _Context, request: DomainRequest, domain: str, txt: Answer, rr99: Answer | None
) -> tuple[SpfResult, DmarcResult, MxResult, dict[str, DkimKey], TlsRptResult]:
    """The sections that need only DNS, all at once."""
    resolver = ctx.resolver
    exists = txt.status is not Status.NXDOMAIN
    dkim = check_dkim(
        resolver,
        domain,
        request.selectors,
        request.reported_selectors,
        ctx.options.probe_common_selectors,
    )
    return await asyncio.gather(
        _guarded(ctx, "spf", check_spf(resolver, domain, txt, rr99), lambda: SpfResult("unknown")),
        _guarded(
            ctx, "dmarc", check_dmarc(resolver, domain, txt, exists), lambda: DmarcResult("unknown")
        ),
        _guarded(ctx, "mx", check_mx(resolver, domain), lambda: MxResult("unknown")),
        _guarded(ctx, "dkim", dkim, dict),
        _guarded(ctx, "tls_rpt", check_tls_rpt(resolver, domain), lambda: TlsRptResult("unknown")),
    )


async def _https_sections(
    ctx: _Context, domain: str, mx: MxResult, dmarc: DmarcResult
) -> tuple[MtaStsResult, BimiResult]:
    """MTA-STS (needs the MX hosts) and BIMI (needs DMARC), which may fetch over HTTPS."""
    org = dmarc.org_domain or dmarc.org_domain_rfc7489 or domain
    sts = check_mta_sts(ctx.resolver, ctx.fetcher, domain, mx.exchanges)
    bimi = check_bimi(ctx.resolver, ctx.fetcher, domain, org, dmarc, ctx.options.fetch_bimi_logo)
    return await asyncio.gather(
        _guarded(ctx, "mta_sts", sts, lambda: MtaStsResult("unknown")),
        _guarded(ctx, "bimi", bimi, lambda: BimiResult("unknown")),
    )


def parked_findings(spf: SpfResult, dmarc: DmarcResult, mx: MxResult) -> list[Finding]:
    """A domain that sends and receives no mail: null MX, ``v=spf1 -all``, DMARC reject."""
    found = []
    if mx.status not in ("null", "unknown"):
        found.append(finding("parked_mx_not_null"))
    if spf.status != "unknown" and (spf.record or "").lower().split() != ["v=spf1", "-all"]:
        found.append(finding("parked_spf_not_fail_all", spf.record or "no SPF record"))
    if dmarc.status != "unknown" and dmarc.policy_applied.policy != "reject":
        found.append(finding("parked_dmarc_not_reject", str(dmarc.policy_applied.policy)))
    return found


def unknown_result(domain: str, reason: str) -> DomainResult:
    """The result of a domain whose check could not finish: every section unknown."""
    findings = (finding("check_failed", reason),)
    return DomainResult(
        normalize_domain(domain),
        datetime.now(UTC),
        SpfResult("unknown"),
        DmarcResult("unknown"),
        {},
        MxResult("unknown"),
        MtaStsResult("unknown"),
        TlsRptResult("unknown"),
        BimiResult("unknown"),
        findings,
        grade(findings, None, None, True),
    )


async def _none() -> Answer | None:
    return None


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str]] = set()
    out = []
    for item in findings:
        key = (item.code, item.detail)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


async def check_fleet_async(requests: Sequence[DomainRequest], options: CheckOptions) -> FleetRun:
    """Check every request concurrently with one resolver cache and one HTTPS client."""
    resolver = Resolver(options.resolver)
    fetcher = HttpsFetcher(resolver, options.http)
    gate = asyncio.Semaphore(options.concurrency)
    started = time.perf_counter()

    async def one(request: DomainRequest) -> DomainResult:
        async with gate:
            try:
                return await asyncio.wait_for(
                    _check(resolver, fetcher, options, request), options.domain_deadline
                )
            except TimeoutError:
                return unknown_result(request.domain, f"gave up after {options.domain_deadline} s")

    try:
        results = await asyncio.gather(*(one(r) for r in requests))
    finally:
        await fetcher.close()
        await resolver.close()
    return FleetRun(tuple(results), resolver.stats, time.perf_counter() - started)


def check_fleet(requests: Sequence[DomainRequest], options: CheckOptions | None = None) -> FleetRun:
    return asyncio.run(check_fleet_async(requests, options or CheckOptions()))


def check_domain(
    domain: str,
    options: CheckOptions | None = None,
    selectors: Sequence[str] = (),
    reported_selectors: Sequence[str] = (),
    parked: bool = False,
) -> DomainResult:
    """Check one domain (its own run and cache)."""
    request = DomainRequest(domain, tuple(selectors), tuple(reported_selectors), parked)
    return check_fleet([request], options).results[0]
