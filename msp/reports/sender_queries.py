"""A domain's senders as the reports saw them: counts, passes, first and last seen, DKIM
selectors and, for the API and pages, where the mail came from (ASNs, countries, busiest IPs).

A sender is keyed by the enrichment's naming rule; an IP not enriched yet is its own sender
(``ip:<address>``) until the enrichment job names it. Lists are ranked, cut and counted in SQL
(:func:`sender_page`: one grouped pass gives the page and the total), each sender's network
details are capped at ``TOP_NETWORK_ITEMS``, and the all-time first and last seen come from the
sender summary (``report_sender``), not from every roll-up of the domain.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    case,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)

from msp.domains.models import Domain
from msp.extensions import db
from msp.reports.models import (
    DkimSelectorSeen,
    IpInfo,
    ReportDaily,
    ReportDomainDay,
    ReportSenderDay,
    Sender,
)
from msp.reports.read_base import (
    as_day,
    daily_where,
    domain_or_404,
    sender_key,
    sender_summaries,
)

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


def _ips_of(keys: list[str]) -> Any:
    """The source IPs that can carry these sender keys: those the enrichment gave one of the
    keys, and the address of each ``ip:`` key (an IP not named yet). A pre-filter on the
    roll-up's key column; the key itself is still checked after the join."""
    named = select(IpInfo.ip).where(IpInfo.sender_key.in_(keys))
    raw = [k[3:] for k in keys if k.startswith("ip:")]
    return ReportDaily.source_ip.in_(named) | ReportDaily.source_ip.in_(raw)


def _stale_days(domain: Domain, since: date, until: date) -> list[date]:
    """The window's days the per-sender summary does not hold as current: days with reports
    not named yet, and days with roll-up rows written some other way (no day summary)."""
    current = set(
        db.session.scalars(
            select(ReportDomainDay.day).where(
                ReportDomainDay.tenant_id == domain.tenant_id,
                ReportDomainDay.domain_id == domain.id,
                ReportDomainDay.day >= since,
                ReportDomainDay.day <= until,
                ReportDomainDay.senders_current.is_(True),
            )
        )
    )
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    return [day for day in days if day not in current]


def _summary_rows(
    domain: Domain,
    since: date,
    until: date,
    keys: list[str] | None,
    stale: list[date],
) -> Any:
    """Per (sender, day) rows of the current days, from the per-sender day summary."""
    sd = ReportSenderDay
    stmt = select(
        sd.key.label("key"),
        sd.name.label("name"),
        sd.messages.label("messages"),
        sd.passed.label("passed"),
        sd.spf.label("spf"),
        sd.dkim.label("dkim"),
        sd.day.label("day"),
    ).where(
        sd.tenant_id == domain.tenant_id,
        sd.domain_id == domain.id,
        sd.day >= since,
        sd.day <= until,
    )
    if stale:
        stmt = stmt.where(sd.day.not_in(stale))
    if keys is not None:
        stmt = stmt.where(sd.key.in_(keys))
    return stmt


def _live_rows(domain: Domain, keys: list[str] | None, stale: list[date] | None) -> Any:
    """Per roll-up row of the stale days (None: every day), named: what the summary holds
    once rebuilt."""
    key = sender_key(ReportDaily.source_ip)
    m = ReportDaily.messages
    passed = ReportDaily.spf_aligned | ReportDaily.dkim_aligned
    stmt = (
        select(
            key.label("key"),
            func.coalesce(IpInfo.sender_name, ReportDaily.source_ip).label("name"),
            m.label("messages"),
            case((passed, m), else_=0).label("passed"),
            case((ReportDaily.spf_aligned, m), else_=0).label("spf"),
            case((ReportDaily.dkim_aligned, m), else_=0).label("dkim"),
            ReportDaily.day.label("day"),
        )
        .select_from(ReportDaily)
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip)
        .where(*daily_where(domain, None, None))
    )
    if stale is not None:
        stmt = stmt.where(ReportDaily.day.in_(stale))
    if keys is not None:
        stmt = stmt.where(_ips_of(keys), key.in_(keys))
    return stmt


def _per_key(
    domain: Domain,
    since: date | None,
    until: date | None,
    keys: list[str] | None = None,
    page: tuple[int, int] | None = None,
) -> list[Any]:
    """Per sender key: name, messages, passes, first and last day; busiest first.

    Read from the per-sender day summary (rows per sender, not per source IP), and from the
    roll-up only for days it does not hold yet (reports not named yet: normally none).
    ``keys`` narrows to those senders; ``page`` is (limit, offset), applied in SQL, and then
    each row ends with the number of senders in all (a window count over the same pass).
    """
    if since is None or until is None:  # all time, for a few keys: the roll-up
        rows = _live_rows(domain, keys, None).subquery()
    else:
        stale = _stale_days(domain, since, until)
        summary = _summary_rows(domain, since, until, keys, stale)
        both: Any = union_all(summary, _live_rows(domain, keys, stale)) if stale else summary
        rows = both.subquery()
    messages = func.sum(rows.c.messages)
    stmt = select(
        rows.c.key,
        func.max(rows.c.name),
        messages,
        func.sum(rows.c.passed),
        func.sum(rows.c.spf),
        func.sum(rows.c.dkim),
        func.min(rows.c.day),
        func.max(rows.c.day),
    ).group_by(rows.c.key)
    if page is not None:
        stmt = stmt.add_columns(func.count().over())
        stmt = stmt.order_by(messages.desc(), rows.c.key).limit(page[0]).offset(page[1])
    return list(db.session.execute(stmt))


def _sender_count(domain: Domain, since: date, until: date) -> int:
    """How many senders the window has (counted in SQL, for the pager)."""
    key = sender_key(ReportDaily.source_ip)
    grouped = (
        select(key.label("key"))
        .select_from(ReportDaily)
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip)
        .where(*daily_where(domain, since, until))
        .group_by(key)
        .subquery()
    )
    return int(db.session.scalar(select(func.count()).select_from(grouped)) or 0)


def _selectors(
    domain: Domain, since: date, until: date, keys: list[str] | None = None
) -> dict[str, set[str]]:
    key = sender_key(DkimSelectorSeen.source_ip)
    stmt = (
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
    if keys is not None:
        stmt = stmt.where(key.in_(keys))
    out: dict[str, set[str]] = {}
    for sender, selector in db.session.execute(stmt):
        out.setdefault(sender, set()).add(selector)
    return out


def _per_ip(domain: Domain, since: date, until: date, keys: list[str] | None) -> Any:
    """A CTE: messages per (sender key, source IP) with the IP's facts."""
    key = sender_key(ReportDaily.source_ip)
    facts = (IpInfo.ptr, IpInfo.asn, IpInfo.as_name, IpInfo.country)
    stmt = (
        select(
            key.label("key"),
            ReportDaily.source_ip.label("ip"),
            func.sum(ReportDaily.messages).label("messages"),
            *facts,
        )
        .select_from(ReportDaily)
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip)
        .where(*daily_where(domain, since, until))
        .group_by(key, ReportDaily.source_ip, *facts)
    )
    if keys is not None:
        stmt = stmt.where(_ips_of(keys), key.in_(keys))
    return stmt.cte("per_ip")


def _top(grouped: Any, order: tuple[Any, ...]) -> Any:
    """The ``TOP_NETWORK_ITEMS`` first rows per sender key of a grouped subquery, with how
    many rows the key has (window functions: the database ranks, Python gets a handful)."""
    ranked = select(
        grouped,
        func.row_number().over(partition_by=grouped.c.key, order_by=order).label("rank"),
        func.count().over(partition_by=grouped.c.key).label("of"),
    ).subquery()
    return ranked


def _networks_select(ip: Any) -> Any:
    """One statement for the three rankings of a per-IP CTE (computed once): rows of kind
    ``ip`` (busiest IPs, ``of`` = distinct IPs), ``asn`` and ``country``, uniform columns."""
    text, number = String(), BigInteger()

    def none(type_: Any) -> Any:
        return cast(null(), type_)

    top = _top(ip, (ip.c.messages.desc(), ip.c.ip))
    by_asn = (
        select(ip.c.key, ip.c.asn, func.max(ip.c.as_name).label("as_name"))
        .add_columns(func.sum(ip.c.messages).label("messages"))
        .where(ip.c.asn.is_not(None))
        .group_by(ip.c.key, ip.c.asn)
        .subquery()
    )
    asns = _top(by_asn, (by_asn.c.messages.desc(), by_asn.c.asn))
    upper = func.upper(ip.c.country)
    by_country = (
        select(ip.c.key, upper.label("country"), func.sum(ip.c.messages).label("messages"))
        .where(ip.c.country.is_not(None), ip.c.country != "")
        .group_by(ip.c.key, upper)
        .subquery()
    )
    countries = _top(by_country, (by_country.c.messages.desc(), by_country.c.country))
    parts = [
        (literal("ip"), top, top.c.ip, top.c.ptr, top.c.asn, top.c.as_name, top.c.country),
        (literal("asn"), asns, none(text), none(text), asns.c.asn, asns.c.as_name, none(text)),
        (
            literal("country"),
            countries,
            none(text),
            none(text),
            none(number),
            none(text),
            countries.c.country,
        ),
    ]
    return union_all(
        *(
            select(
                kind.label("kind"),
                sub.c.key,
                a.label("ip"),
                sub.c.messages,
                b.label("ptr"),
                c.label("asn"),
                d.label("as_name"),
                e.label("country"),
                sub.c.of,
            ).where(sub.c.rank <= TOP_NETWORK_ITEMS)
            for kind, sub, a, b, c, d, e in parts
        )
    )


def _networks_sql(
    domain: Domain, since: date, until: date, keys: list[str] | None
) -> dict[str, SenderNetwork]:
    """Per sender: distinct IPs, top ASNs, countries and IPs, each capped in SQL (one
    statement over the page's per-IP rows)."""
    ip = _per_ip(domain, since, until, keys)
    out: dict[str, dict[str, Any]] = {}
    for row in db.session.execute(_networks_select(ip)):
        entry = out.setdefault(row.key, {"ips": 0, "asns": [], "countries": [], "top": []})
        if row.kind == "ip":
            entry["ips"] = int(row.of)
            country = row.country.upper() if row.country else None
            entry["top"].append(
                SourceIp(row.ip, int(row.messages), row.ptr, row.asn, row.as_name, country)
            )
        elif row.kind == "asn":
            entry["asns"].append(AsnShare(row.asn, row.as_name, int(row.messages)))
        else:
            entry["countries"].append(CountryShare(row.country, int(row.messages)))
    order = (lambda t: (-t.messages, t.ip), lambda a: (-a.messages, a.asn))
    return {
        key: SenderNetwork(
            e["ips"],
            tuple(sorted(e["asns"], key=order[1])),
            tuple(sorted(e["countries"], key=lambda c: (-c.messages, c.country))),
            tuple(sorted(e["top"], key=order[0])),
        )
        for key, e in out.items()
    }


def _network(ips: list[SourceIp]) -> SenderNetwork:
    """The same summary as :func:`_networks_sql`, from a list of source IPs (the web page's)."""
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
    domain_id: int, since: date | datetime, until: date | datetime, keys: list[str] | None = None
) -> dict[str, SenderNetwork]:
    """Per sender key (all, or ``keys``), the ASNs, countries and busiest source IPs."""
    return _networks_sql(domain_or_404(domain_id), as_day(since), as_day(until), keys)


@dataclass(frozen=True)
class SenderPage:
    """One page of a domain's senders, busiest first, and how many there are in all."""

    total: int
    items: list[SenderStat]


def _history(
    domain: Domain, summaries: dict[str, Any], keys: list[str]
) -> dict[str, tuple[date, date]]:
    """All-time first and last seen per sender key: from the sender summary the enrichment
    keeps; from the roll-ups only for keys it has not dated (not named yet, or declared by hand
    before any report), normally none."""
    out = {k: (v[1], v[2]) for k, v in summaries.items() if v[1] is not None and v[2] is not None}
    undated = [k for k in keys if k not in out]
    if undated:
        out.update({row[0]: (row[6], row[7]) for row in _per_key(domain, None, None, undated)})
    return out


def _stats(
    domain: Domain, start: date, end: date, page: tuple[int, int] | None, with_network: bool
) -> tuple[list[SenderStat], int]:
    """The senders of the window (all, or one page) and how many there are in all."""
    window = _per_key(domain, start, end, page=page)
    total = int(window[0][8]) if page is not None and window else len(window)
    if page is not None and not window:
        return [], _sender_count(domain, start, end) if page[1] else 0
    keys = [row[0] for row in window] if page is not None else None
    summaries = sender_summaries(domain, keys)
    history = _history(domain, summaries, [row[0] for row in window])
    selectors = _selectors(domain, start, end, keys)
    networks = _networks_sql(domain, start, end, keys) if with_network else {}
    stats = []
    for key, name, messages, passed, spf, dkim, first, last, *_ in window:
        status = summaries.get(key, ("unknown",))[0]
        ever_first, ever_last = history.get(key, (first, last))
        first_seen, last_seen = min(first, ever_first), max(last, ever_last)
        stats.append(
            SenderStat(
                key=key,
                display_name=name,
                status=status,
                is_new=first_seen >= start,
                messages=int(messages),
                dmarc_pass=int(passed),
                spf_aligned_pass=int(spf),
                dkim_aligned_pass=int(dkim),
                first_seen=first_seen,
                last_seen=last_seen,
                dkim_selectors=frozenset(selectors.get(key, ())),
                network=networks.get(key, _network([])) if with_network else None,
            )
        )
    return sorted(stats, key=lambda s: (-s.messages, s.key)), total


def sender_stats(
    domain_id: int,
    since: date | datetime,
    until: date | datetime,
    *,
    with_network: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[SenderStat]:
    """The senders of the domain in [since, until], busiest first: all of them, or ``limit``
    from ``offset`` on (ranked and cut in SQL). ``with_network`` adds where each one's mail
    came from (more grouped queries, which the policy engine does not need)."""
    domain = domain_or_404(domain_id)
    page = (limit, offset) if limit is not None else None
    return _stats(domain, as_day(since), as_day(until), page, with_network)[0]


def sender_page(
    domain_id: int,
    since: date | datetime,
    until: date | datetime,
    *,
    limit: int,
    offset: int = 0,
    with_network: bool = False,
) -> SenderPage:
    """:func:`sender_stats` for one page, with the total number of senders in the window."""
    domain = domain_or_404(domain_id)
    items, total = _stats(domain, as_day(since), as_day(until), (limit, offset), with_network)
    return SenderPage(total, items)


# The naming rule's keys (msp.reports.senders): a base domain, or ``ip:`` and an address.
SENDER_KEY = re.compile(r"^(ip:[0-9A-Fa-f:.]{2,45}|[A-Za-z0-9._-]{1,253})$")


def well_formed_key(key: str) -> bool:
    """Whether ``key`` could be a sender key at all (checked before any query)."""
    if not SENDER_KEY.match(key):
        return False
    if key.startswith("ip:"):
        try:
            ipaddress.ip_address(key[3:])
        except ValueError:
            return False
    return True


def known_sender_keys(domain_id: int, keys: list[str]) -> set[str]:
    """Which of ``keys`` name a sender of the domain: declared, or seen in its reports."""
    wanted = [k for k in dict.fromkeys(keys) if well_formed_key(k)]
    if not wanted:
        return set()
    domain = domain_or_404(domain_id)
    declared = set(
        db.session.scalars(
            select(Sender.key).where(
                Sender.tenant_id == domain.tenant_id,
                Sender.domain_id == domain.id,
                Sender.key.in_(wanted),
            )
        )
    )
    rest = [k for k in wanted if k not in declared]
    if not rest:
        return declared
    key = sender_key(ReportDaily.source_ip)
    seen = db.session.scalars(
        select(key)
        .select_from(ReportDaily)
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip)
        .where(*daily_where(domain, None, None), key.in_(rest))
        .distinct()
    )
    return declared | set(seen)
