"""The read side of reports: per-domain senders, coverage and daily rows for policy decisions.

These are what the policy engine (``sender_stats``, ``coverage``, ``daily_rows``) and the DNS
checker (``learnt_dkim_selectors``) consume. A sender is keyed by the enrichment's naming rule;
an IP not enriched yet is its own sender (``ip:<address>``) until the enrichment job names it.
``sender_stats(..., with_network=True)`` adds where each sender's mail came from (ASNs,
countries, busiest source IPs) for the API and the domain page; the policy engine skips it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, and_, case, func, literal, select

from msp.domains.models import Domain
from msp.errors import NotFound
from msp.extensions import db
from msp.reports.models import DkimSelectorSeen, IpInfo, Report, ReportDaily, Sender, TlsResult

TOP_NETWORK_ITEMS = 5


@dataclass(frozen=True)
class AsnShare:
    asn: int
    as_name: str | None
    messages: int


@dataclass(frozen=True)
class CountryShare:
    country: str
    messages: int


@dataclass(frozen=True)
class SourceIp:
    ip: str
    messages: int
    ptr: str | None
    asn: int | None
    as_name: str | None
    country: str | None


@dataclass(frozen=True)
class SenderNetwork:
    """Where a sender's mail came from in the window, busiest first.

    ``asns`` and ``countries`` count only IPs whose facts are known (the enrichment may not have
    run yet, or found nothing), so their messages can sum to less than the sender's; ``top_ips``
    lists the busiest addresses whether known or not. Each list is capped at
    ``TOP_NETWORK_ITEMS``; ``ips`` is the number of distinct source IPs.
    """

    ips: int
    asns: tuple[AsnShare, ...]
    countries: tuple[CountryShare, ...]
    top_ips: tuple[SourceIp, ...]

    @property
    def asn(self) -> AsnShare | None:
        """The ASN that carried most of the sender's known mail."""
        return self.asns[0] if self.asns else None


@dataclass(frozen=True)
class SenderStat:
    key: str
    display_name: str
    status: str
    is_new: bool
    messages: int
    dmarc_pass: int
    spf_aligned_pass: int
    dkim_aligned_pass: int
    first_seen: date
    last_seen: date
    dkim_selectors: frozenset[str]
    network: SenderNetwork | None = None  # None: not asked for (``with_network=False``)


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


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _domain(domain_id: int) -> Domain:
    domain = db.session.get(Domain, domain_id)
    if domain is None:
        raise NotFound(f"domain {domain_id} not found")
    return domain


def _key(ip_column: Any) -> Any:
    return func.coalesce(IpInfo.sender_key, literal("ip:", String) + ip_column)


def _statuses(domain: Domain) -> dict[str, str]:
    rows = db.session.execute(
        select(Sender.key, Sender.status).where(
            Sender.tenant_id == domain.tenant_id, Sender.domain_id == domain.id
        )
    )
    return {key: status for key, status in rows}


def _daily_where(domain: Domain, since: date | None, until: date | None) -> list[Any]:
    where = [ReportDaily.tenant_id == domain.tenant_id, ReportDaily.domain_id == domain.id]
    if since is not None:
        where.append(ReportDaily.day >= since)
    if until is not None:
        where.append(ReportDaily.day <= until)
    return where


def _per_key(domain: Domain, since: date | None, until: date | None) -> list[Any]:
    key = _key(ReportDaily.source_ip).label("key")
    passed = ReportDaily.spf_aligned | ReportDaily.dkim_aligned
    stmt = (
        select(
            key,
            func.max(func.coalesce(IpInfo.sender_name, ReportDaily.source_ip)),
            func.sum(ReportDaily.messages),
            func.sum(case((passed, ReportDaily.messages), else_=0)),
            func.sum(case((ReportDaily.spf_aligned, ReportDaily.messages), else_=0)),
            func.sum(case((ReportDaily.dkim_aligned, ReportDaily.messages), else_=0)),
            func.min(ReportDaily.day),
            func.max(ReportDaily.day),
        )
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip)
        .where(*_daily_where(domain, since, until))
        .group_by(key)
    )
    return list(db.session.execute(stmt))


def _selectors(domain: Domain, since: date, until: date) -> dict[str, set[str]]:
    key = _key(DkimSelectorSeen.source_ip)
    rows = db.session.execute(
        select(key, DkimSelectorSeen.selector)
        .outerjoin(IpInfo, IpInfo.ip == DkimSelectorSeen.source_ip)
        .where(
            DkimSelectorSeen.tenant_id == domain.tenant_id,
            DkimSelectorSeen.domain_id == domain.id,
            DkimSelectorSeen.last_seen >= since,
            DkimSelectorSeen.first_seen <= until,
        )
        .distinct()
    )
    out: dict[str, set[str]] = {}
    for sender, selector in rows:
        out.setdefault(sender, set()).add(selector)
    return out


def _source_ips(domain: Domain, since: date, until: date) -> dict[str, list[SourceIp]]:
    key = _key(ReportDaily.source_ip).label("key")
    facts = (IpInfo.ptr, IpInfo.asn, IpInfo.as_name, IpInfo.country)
    rows = db.session.execute(
        select(key, ReportDaily.source_ip, func.sum(ReportDaily.messages), *facts)
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip)
        .where(*_daily_where(domain, since, until))
        .group_by(key, ReportDaily.source_ip, *facts)
    )
    out: dict[str, list[SourceIp]] = {}
    for sender, ip, messages, ptr, asn, as_name, country in rows:
        out.setdefault(sender, []).append(
            SourceIp(ip, int(messages), ptr, asn, as_name, country.upper() if country else None)
        )
    return out


def _network(ips: list[SourceIp]) -> SenderNetwork:
    asns: dict[int, list[Any]] = {}
    countries: dict[str, int] = {}
    for source in ips:
        if source.asn is not None:
            entry = asns.setdefault(source.asn, [source.as_name, 0])
            entry[0] = entry[0] or source.as_name
            entry[1] += source.messages
        if source.country:
            countries[source.country] = countries.get(source.country, 0) + source.messages
    top = TOP_NETWORK_ITEMS
    return SenderNetwork(
        ips=len(ips),
        asns=tuple(
            AsnShare(asn, name, messages)
            for asn, (name, messages) in sorted(asns.items(), key=lambda i: (-i[1][1], i[0]))[:top]
        ),
        countries=tuple(
            CountryShare(country, messages)
            for country, messages in sorted(countries.items(), key=lambda i: (-i[1], i[0]))[:top]
        ),
        top_ips=tuple(sorted(ips, key=lambda s: (-s.messages, s.ip))[:top]),
    )


def sender_networks(
    domain_id: int, since: date | datetime, until: date | datetime
) -> dict[str, SenderNetwork]:
    """Per sender key, the ASNs, countries and busiest source IPs in [since, until]."""
    domain = _domain(domain_id)
    per_key = _source_ips(domain, _day(since), _day(until))
    return {key: _network(ips) for key, ips in per_key.items()}


def sender_stats(
    domain_id: int,
    since: date | datetime,
    until: date | datetime,
    *,
    with_network: bool = False,
) -> list[SenderStat]:
    """Every sender of the domain in [since, until], busiest first (with where its mail came
    from when ``with_network``: one more grouped query, which the policy engine does not need)."""
    domain = _domain(domain_id)
    start, end = _day(since), _day(until)
    window = _per_key(domain, start, end)
    history = {row[0]: (row[6], row[7]) for row in _per_key(domain, None, None)}
    statuses = _statuses(domain)
    selectors = _selectors(domain, start, end)
    networks = sender_networks(domain.id, start, end) if with_network else {}
    stats = [
        SenderStat(
            key=key,
            display_name=name,
            status=statuses.get(key, "unknown"),
            is_new=history.get(key, (first,))[0] >= start,
            messages=int(total),
            dmarc_pass=int(passed),
            spf_aligned_pass=int(spf),
            dkim_aligned_pass=int(dkim),
            first_seen=history.get(key, (first, last))[0],
            last_seen=history.get(key, (first, last))[1],
            dkim_selectors=frozenset(selectors.get(key, ())),
            network=networks.get(key, _network([])) if with_network else None,
        )
        for key, name, total, passed, spf, dkim, first, last in window
    ]
    return sorted(stats, key=lambda s: (-s.messages, s.key))


def coverage(domain_id: int, since: date | datetime, until: date | datetime) -> Coverage:
    """How well the window is covered by reports: reporters, days and messages."""
    domain = _domain(domain_id)
    start, end = _day(since), _day(until)
    days, messages = db.session.execute(
        select(func.count(func.distinct(ReportDaily.day)), func.sum(ReportDaily.messages)).where(
            *_daily_where(domain, start, end)
        )
    ).one()
    reporters = db.session.scalar(
        select(func.count(func.distinct(Report.org_name))).where(
            Report.tenant_id == domain.tenant_id,
            Report.domain_id == domain.id,
            Report.kind == "aggregate",
            and_(func.date(Report.begin) <= end, func.date(Report.end) >= start),
        )
    )
    return Coverage(
        reporters=int(reporters or 0), days_with_reports=int(days or 0), messages=int(messages or 0)
    )


def daily_rows(
    domain_id: int, since: date | datetime, until: date | datetime
) -> Iterator[DailyRow]:
    """Daily roll-up rows of the domain with their sender and its status (for simulation)."""
    domain = _domain(domain_id)
    statuses = _statuses(domain)
    key = _key(ReportDaily.source_ip)
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
        .where(*_daily_where(domain, _day(since), _day(until)))
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
    domain = _domain(domain_id)
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


def tls_summary(domain_id: int, since: date | datetime, until: date | datetime) -> list[TlsStat]:
    """Successes, failures and failure types per policy type and MX in [since, until]."""
    domain = _domain(domain_id)
    rows = db.session.execute(
        select(
            TlsResult.policy_type,
            TlsResult.mx_host,
            TlsResult.successful,
            TlsResult.failed,
            TlsResult.failure_types,
        ).where(
            TlsResult.tenant_id == domain.tenant_id,
            TlsResult.domain_id == domain.id,
            TlsResult.day >= _day(since),
            TlsResult.day <= _day(until),
        )
    )
    totals: dict[tuple[str, str | None], list[Any]] = {}
    for policy_type, mx_host, successful, failed, types in rows:
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
