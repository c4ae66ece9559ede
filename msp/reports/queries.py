"""The read side of reports: coverage, daily rows, learnt selectors and TLS results.

These are what the policy engine (``sender_stats``, ``coverage``, ``daily_rows``) and the DNS
checker (``learnt_dkim_selectors``) consume. The per-sender reads live in
:mod:`msp.reports.sender_queries` and are re-exported here, so ``msp.reports.queries`` stays
the one import of the read side.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from msp.extensions import db
from msp.reports.models import (
    DkimSelectorSeen,
    IpInfo,
    Report,
    ReportDaily,
    ReportDomainDay,
    TlsResult,
)
from msp.reports.read_base import as_day, daily_where, domain_or_404, sender_key, sender_statuses
from msp.reports.sender_queries import (
    TOP_NETWORK_ITEMS,
    AsnShare,
    CountryShare,
    SenderNetwork,
    SenderPage,
    SenderStat,
    SourceIp,
    _network,
    sender_networks,
    sender_page,
    sender_stats,
)

__all__ = [
    "TOP_NETWORK_ITEMS",
    "AsnShare",
    "CountryShare",
    "Coverage",
    "DailyRow",
    "SenderNetwork",
    "SenderPage",
    "SenderStat",
    "SourceIp",
    "TlsPage",
    "TlsStat",
    "_network",
    "coverage",
    "daily_rows",
    "learnt_dkim_selectors",
    "sender_networks",
    "sender_page",
    "sender_stats",
    "tls_page",
    "tls_summary",
]


@dataclass(frozen=True)
class Coverage:
    reporters: int
    days_with_reports: int
    messages: int


@dataclass(frozen=True)
class DailyRow:
    day: date
    sender_key: str
    sender_status: str
    header_from: str
    disposition: str
    spf_aligned: bool
    dkim_aligned: bool
    count: int


def coverage(domain_id: int, since: date | datetime, until: date | datetime) -> Coverage:
    """How well the window is covered by reports: reporters, days and messages (the days and
    messages from the day summary: one row per day, however many source IPs)."""
    domain = domain_or_404(domain_id)
    start, end = as_day(since), as_day(until)
    days, messages = db.session.execute(
        select(func.count(ReportDomainDay.day), func.sum(ReportDomainDay.messages)).where(
            ReportDomainDay.tenant_id == domain.tenant_id,
            ReportDomainDay.domain_id == domain.id,
            ReportDomainDay.day >= start,
            ReportDomainDay.day <= end,
            ReportDomainDay.messages > 0,
        )
    ).one()
    # Reports overlapping the window's UTC days, as a range on the (tenant, domain, begin)
    # index: begin before the day after the window, end on or after its first day.
    after = datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
    reporters = db.session.scalar(
        select(func.count(func.distinct(Report.org_name))).where(
            Report.tenant_id == domain.tenant_id,
            Report.domain_id == domain.id,
            Report.begin < after,
            Report.end >= datetime.combine(start, time(), tzinfo=UTC),
            Report.kind == "aggregate",
        )
    )
    return Coverage(
        reporters=int(reporters or 0), days_with_reports=int(days or 0), messages=int(messages or 0)
    )


def daily_rows(
    domain_id: int, since: date | datetime, until: date | datetime
) -> Iterator[DailyRow]:
    """Daily roll-up rows of the domain with their sender and its status (for simulation)."""
    domain = domain_or_404(domain_id)
    statuses = sender_statuses(domain)
    key = sender_key(ReportDaily.source_ip)
    stmt = (
        select(
            key,
            ReportDaily.day,
            ReportDaily.header_from,
            ReportDaily.disposition,
            ReportDaily.spf_aligned,
            ReportDaily.dkim_aligned,
            ReportDaily.messages,
        )
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip)
        .where(*daily_where(domain, as_day(since), as_day(until)))
        .order_by(ReportDaily.day)
        .execution_options(yield_per=5000)
    )
    for sender, day, header_from, disposition, spf, dkim, count in db.session.execute(stmt):
        yield DailyRow(
            day,
            sender,
            statuses.get(sender, "unknown"),
            header_from,
            disposition,
            bool(spf),
            bool(dkim),
            int(count),
        )


def learnt_dkim_selectors(domain_id: int) -> set[str]:
    """Selectors that produced a passing signature by the domain itself, as seen in reports."""
    domain = domain_or_404(domain_id)
    rows = db.session.scalars(
        select(DkimSelectorSeen.selector)
        .where(
            DkimSelectorSeen.tenant_id == domain.tenant_id,
            DkimSelectorSeen.domain_id == domain.id,
            DkimSelectorSeen.signing_domain == domain.name,
            DkimSelectorSeen.passed.is_(True),
        )
        .distinct()
    )
    return set(rows)


@dataclass(frozen=True)
class TlsStat:
    """TLS-RPT sessions of a domain per policy type and receiving MX (None: policy totals)."""

    policy_type: str
    mx_host: str | None
    successful: int
    failed: int
    failure_types: dict[str, int]


def _tls_where(domain_id: int, since: date | datetime, until: date | datetime) -> list[Any]:
    domain = domain_or_404(domain_id)
    return [
        TlsResult.tenant_id == domain.tenant_id,
        TlsResult.domain_id == domain.id,
        TlsResult.day >= as_day(since),
        TlsResult.day <= as_day(until),
    ]


def tls_summary(
    domain_id: int,
    since: date | datetime,
    until: date | datetime,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[TlsStat]:
    """Successes, failures and failure types per policy type and MX in [since, until]; all of
    them, or ``limit`` (policy type, MX) lines from ``offset`` on, chosen in SQL."""
    where = _tls_where(domain_id, since, until)
    mx = func.coalesce(TlsResult.mx_host, "")
    if limit is not None:
        lines = (
            select(TlsResult.policy_type, mx)
            .where(*where)
            .group_by(TlsResult.policy_type, mx)
            .order_by(TlsResult.policy_type, mx)
            .limit(limit)
            .offset(offset)
        )
        wanted = {(t, m) for t, m in db.session.execute(lines)}
        if not wanted:
            return []
        where += [
            TlsResult.policy_type.in_({t for t, _ in wanted}),
            mx.in_({m for _, m in wanted}),
        ]
    rows = db.session.execute(
        select(
            TlsResult.policy_type,
            TlsResult.mx_host,
            TlsResult.successful,
            TlsResult.failed,
            TlsResult.failure_types,
        ).where(*where)
    )
    totals: dict[tuple[str, str | None], list[Any]] = {}
    for policy_type, mx_host, successful, failed, types in rows:
        if limit is not None and (policy_type, mx_host or "") not in wanted:
            continue
        entry = totals.setdefault((policy_type, mx_host), [0, 0, {}])
        entry[0] += successful
        entry[1] += failed
        for kind, count in (types or {}).items():
            entry[2][kind] = entry[2].get(kind, 0) + int(count)
    return [
        TlsStat(policy_type, mx_host, ok, failed, types)
        for (policy_type, mx_host), (ok, failed, types) in sorted(
            totals.items(), key=lambda item: (item[0][0], item[0][1] or "")
        )
    ]


@dataclass(frozen=True)
class TlsPage:
    """One page of a domain's TLS-RPT lines and how many lines there are in all."""

    total: int
    items: list[TlsStat]


def tls_page(
    domain_id: int, since: date | datetime, until: date | datetime, *, limit: int, offset: int = 0
) -> TlsPage:
    """:func:`tls_summary` for one page, with the total number of lines (counted in SQL)."""
    mx = func.coalesce(TlsResult.mx_host, "")
    lines = (
        select(TlsResult.policy_type, mx)
        .where(*_tls_where(domain_id, since, until))
        .group_by(TlsResult.policy_type, mx)
        .subquery()
    )
    total = int(db.session.scalar(select(func.count()).select_from(lines)) or 0)
    if offset >= total:
        return TlsPage(total, [])
    return TlsPage(total, tls_summary(domain_id, since, until, limit=limit, offset=offset))
