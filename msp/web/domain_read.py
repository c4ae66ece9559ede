"""The domain page's read model: everything one domain page shows, gathered through the areas'
services and read-only queries, without writing anything.

The policy plan is the one the engine stored at its last evaluation (on creation, after each
DNS check, daily): evaluating on every visit cost ~70 ms on a demo domain and ~58 s on one with
120,000 senders. Only a domain without a stored evaluation, one whose senders were judged since
(its gates would read stale), or a visitor asking for "evaluate now" gets a live verdict, read
inside a SAVEPOINT that is always rolled back: ``plan_view`` promises to write nothing (it
previews a missing plan), and the savepoint makes that a guarantee of this page whatever the
engine does later, since a GET must never write.

The senders are one page paged in SQL ("and N more"), and the facts shown beside each sender
(networks, DKIM and SPF domains, trend) are read for that page's senders only, so a domain with
120,000 source IPs still renders a small page.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import and_, case, func, or_, select

from msp.auth.models import AuditLog
from msp.db import utcnow
from msp.dns import service as dns_service
from msp.dns.models import PostureFinding
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy import service as policy_service
from msp.policy.changes import open_change
from msp.policy.loader import report_address
from msp.policy.models import PolicyChange, PolicyPlan, PolicyTimelineEntry
from msp.reports.models import DkimSelectorSeen, IpInfo, Report, ReportDaily, ReportRecord
from msp.reports.queries import (
    SenderNetwork,
    SenderStat,
    SourceIp,
    coverage,
    sender_page,
)
from msp.reports.queries import _network as network_of  # one rule for the network summary
from msp.reports.read_base import daily_where, sender_key, sender_statuses
from msp.tenancy.models import Tenant
from msp.web.domain_advice import SpfAdvice, relevant_findings, suggest_spf

SENDER_WINDOW_DAYS = 30
SENDERS_PER_PAGE = 25
TIMELINE_LIMIT = 25
SPF_SAMPLE_REPORTS = 50  # SPF domains come from the latest reports only (report_record)


@dataclass(frozen=True)
class SenderFacts:
    """What the page shows beside one sender, besides its counts."""

    network: SenderNetwork
    dkim: tuple[tuple[str, str, bool], ...]  # (signing domain, selector, ever passed)
    spf_domains: tuple[str, ...]
    recent: int  # messages in the second half of the window
    earlier: int  # messages in the first half

    @property
    def trend(self) -> str:
        if self.earlier == 0:
            return "new in this period" if self.recent else "no mail"
        change = round(100 * (self.recent - self.earlier) / self.earlier)
        if abs(change) < 10:
            return "steady"
        return f"{'up' if change > 0 else 'down'} {abs(change)}%"


Row = tuple[SenderStat, "SenderFacts"]


@dataclass(frozen=True)
class SenderPage:
    rows: list[Row]
    total: int
    page: int
    pages: int
    unknown_messages: int
    unknown_senders: int
    messages: int
    per_page: int = SENDERS_PER_PAGE


@dataclass(frozen=True)
class PlanData:
    """The plan as plain data (read in a rolled-back savepoint) and the open change."""

    view: dict[str, Any]
    change: dict[str, Any] | None
    planned: bool  # False: no plan stored yet (the evaluation has not run for this domain)
    live: bool = True  # False: the stored evaluation (see ``evaluated_at``)


@dataclass(frozen=True)
class DomainPage:
    domain: Domain
    tenant: Tenant
    zone: ZoneInfo
    posture: dns_service.PostureView | None
    findings: list[PostureFinding]
    senders: SenderPage
    spf: SpfAdvice
    plan: PlanData
    report_address: str
    reports_domain_missing: bool
    timeline: list[PolicyTimelineEntry]
    changes: list[PolicyChange] = field(default_factory=list)


def tenant_of(domain: Domain) -> Tenant:
    tenant = db.session.get(Tenant, domain.tenant_id)
    assert tenant is not None  # a domain's tenant is a foreign key
    return tenant


def tenant_zone(tenant: Tenant) -> ZoneInfo:
    try:
        return ZoneInfo(tenant.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def window() -> tuple[date, date]:
    today = utcnow().date()
    return today - timedelta(days=SENDER_WINDOW_DAYS), today


def _change_data(change: PolicyChange | None) -> dict[str, Any] | None:
    if change is None:
        return None
    names = ("id", "kind", "from_stage", "to_stage", "status", "proposed_at", "proposed_by")
    more = ("decided_at", "decided_by", "scheduled_for", "published_at", "note", "records")
    return {name: getattr(change, name) for name in (*names, *more)}


def _stored_plan(domain: Domain) -> PolicyPlan | None:
    return db.session.scalar(
        select(PolicyPlan).where(
            PolicyPlan.tenant_id == domain.tenant_id, PolicyPlan.domain_id == domain.id
        )
    )


def _stored_view(domain: Domain, plan: PolicyPlan) -> PlanData:
    """The last evaluation the engine stored (on creation, after each check, daily), in the
    shape of a live one; the open change is read now (it moves on without an evaluation)."""
    view = {
        "domain_id": domain.id,
        "domain": domain.name,
        **plan.last_evaluation,
        "stage": plan.stage,
        "stage_since": plan.stage_since.isoformat(),
        "evaluated_at": plan.last_evaluated_at.isoformat() if plan.last_evaluated_at else None,
    }
    change = open_change(domain)
    view["open_change_id"] = change.id if change else None
    return PlanData(view, _change_data(change), True, live=False)


def _judged_since(domain: Domain, plan: PolicyPlan) -> bool:
    """Whether a person gave one of the domain's senders a verdict after the stored
    evaluation: its gates would read stale (the audit log's tenant and time index)."""
    if plan.last_evaluated_at is None:
        return False
    found = db.session.scalar(
        select(AuditLog.id)
        .where(
            AuditLog.tenant_id == domain.tenant_id,
            AuditLog.at > plan.last_evaluated_at,
            AuditLog.action == "sender.verdict",
            AuditLog.changes["domain"].as_string() == domain.name,
        )
        .limit(1)
    )
    return found is not None


def read_plan(domain: Domain, *, live: bool = False) -> PlanData:
    """The plan the engine stored at its last evaluation; the engine's verdict now only when
    none is stored yet or when asked (``live``). A live verdict is read in a savepoint that is
    rolled back, so nothing it may have written is kept: a GET never writes."""
    plan = _stored_plan(domain)
    if not live and plan is not None and plan.last_evaluation and not _judged_since(domain, plan):
        return _stored_view(domain, plan)
    savepoint = db.session.begin_nested()
    try:
        view = policy_service.plan_view(domain, utcnow())
        data = PlanData(view.as_dict(), _change_data(view.change), plan is not None)
    finally:
        savepoint.rollback()
    return data


def _keys_filter(keys: list[str], ip_column: Any) -> Any:
    """Rows of the given sender keys: narrowed by address (``ip:`` keys) or by the IP facts'
    name (named keys), then exact on the key rule (an IP the enrichment saw keeps its name)."""
    ips = [k.removeprefix("ip:") for k in keys if k.startswith("ip:")]
    named = [k for k in keys if not k.startswith("ip:")]
    return and_(
        or_(ip_column.in_(ips or [""]), IpInfo.sender_key.in_(named or [""])),
        sender_key(ip_column).in_(keys or [""]),
    )


@dataclass
class _Tally:
    """Per sender key, what the page's grouped query adds up."""

    ips: list[SourceIp] = field(default_factory=list)
    name: str = ""
    messages: int = 0
    recent: int = 0
    passed: int = 0
    spf: int = 0
    dkim: int = 0
    first: date | None = None
    last: date | None = None


def _tallies(domain: Domain, keys: list[str], since: date, until: date) -> dict[str, _Tally]:
    """One grouped read of the given senders' daily rows: per source IP with its facts."""
    key = sender_key(ReportDaily.source_ip).label("key")
    mid = since + (until - since) / 2
    m = ReportDaily.messages
    facts = (IpInfo.ptr, IpInfo.asn, IpInfo.as_name, IpInfo.country, IpInfo.sender_name)
    rows = db.session.execute(
        select(
            key,
            ReportDaily.source_ip,
            func.sum(m),
            func.sum(case((ReportDaily.day > mid, m), else_=0)),
            func.sum(case((ReportDaily.spf_aligned | ReportDaily.dkim_aligned, m), else_=0)),
            func.sum(case((ReportDaily.spf_aligned, m), else_=0)),
            func.sum(case((ReportDaily.dkim_aligned, m), else_=0)),
            func.min(ReportDaily.day),
            func.max(ReportDaily.day),
            *facts,
        )
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip)
        .where(*daily_where(domain, since, until), _keys_filter(keys, ReportDaily.source_ip))
        .group_by(key, ReportDaily.source_ip, *facts)
    )
    out: dict[str, _Tally] = {}
    for k, ip, total, recent, passed, spf, dkim, first, last, *more in rows:
        ptr, asn, as_name, country, name = more
        t = out.setdefault(k, _Tally(name=name or ip))
        t.ips.append(SourceIp(ip, int(total), ptr, asn, as_name, (country or "").upper() or None))
        t.messages, t.recent = t.messages + int(total), t.recent + int(recent)
        t.passed, t.spf, t.dkim = t.passed + int(passed), t.spf + int(spf), t.dkim + int(dkim)
        t.first = min(first, t.first or first)
        t.last = max(last, t.last or last)
    return out


def _dkim(domain: Domain, keys: list[str], since: date) -> dict[str, set[tuple[str, str, bool]]]:
    key = sender_key(DkimSelectorSeen.source_ip)
    rows = db.session.execute(
        select(
            key,
            DkimSelectorSeen.signing_domain,
            DkimSelectorSeen.selector,
            DkimSelectorSeen.passed,
        )
        .outerjoin(IpInfo, IpInfo.ip == DkimSelectorSeen.source_ip)
        .where(
            DkimSelectorSeen.tenant_id == domain.tenant_id,
            DkimSelectorSeen.domain_id == domain.id,
            DkimSelectorSeen.last_seen >= since,
            _keys_filter(keys, DkimSelectorSeen.source_ip),
        )
        .distinct()
    )
    out: dict[str, set[tuple[str, str, bool]]] = {}
    for sender, signing, selector, passed in rows:
        out.setdefault(sender, set()).add((signing, selector, bool(passed)))
    return out


def _spf_domains(domain: Domain, keys: list[str]) -> dict[str, set[str]]:
    latest = (
        select(Report.id)
        .where(
            Report.tenant_id == domain.tenant_id,
            Report.domain_id == domain.id,
            Report.kind == "aggregate",
        )
        .order_by(Report.begin.desc())
        .limit(SPF_SAMPLE_REPORTS)
    )
    key = sender_key(ReportRecord.source_ip)
    rows = db.session.execute(
        select(key, ReportRecord.spf_domain)
        .outerjoin(IpInfo, IpInfo.ip == ReportRecord.source_ip)
        .where(
            ReportRecord.report_id.in_(latest.scalar_subquery()),
            ReportRecord.tenant_id == domain.tenant_id,
            ReportRecord.spf_domain.is_not(None),
            _keys_filter(keys, ReportRecord.source_ip),
        )
        .distinct()
    )
    out: dict[str, set[str]] = {}
    for sender, spf_domain in rows:
        out.setdefault(sender, set()).add(spf_domain.lower())
    return out


def _stat(key: str, status: str, tally: _Tally, since: date) -> SenderStat:
    """A sender's line built from the page's own tally (senders judged, filtered pages)."""
    first, last = tally.first or since, tally.last or since
    return SenderStat(
        key=key,
        display_name=tally.name if not key.startswith("ip:") else key.removeprefix("ip:"),
        status=status,
        is_new=first > since,
        messages=tally.messages,
        dmarc_pass=tally.passed,
        spf_aligned_pass=tally.spf,
        dkim_aligned_pass=tally.dkim,
        first_seen=first,
        last_seen=last,
        dkim_selectors=frozenset(),
        network=network_of(tally.ips),
    )


def _facts(domain: Domain, stats: list[SenderStat], tallies: dict[str, _Tally]) -> list[Row]:
    keys = [s.key for s in stats]
    dkim, spf = _dkim(domain, keys, window()[0]), _spf_domains(domain, keys)
    rows = []
    for stat in stats:
        tally = tallies.get(stat.key, _Tally())
        facts = SenderFacts(
            network=network_of(tally.ips),
            dkim=tuple(sorted(dkim.get(stat.key, ()))),
            spf_domains=tuple(sorted(spf.get(stat.key, ()))),
            recent=tally.recent,
            earlier=tally.messages - tally.recent,
        )
        rows.append((replace(stat, network=facts.network), facts))
    return rows


def judged_senders(domain: Domain, statuses: dict[str, str]) -> dict[str, list[SenderStat]]:
    """The senders with a verdict, by verdict (they are few: each was judged by a person)."""
    since, until = window()
    tallies = _tallies(domain, list(statuses), since, until) if statuses else {}
    out: dict[str, list[SenderStat]] = {}
    for key, tally in tallies.items():
        out.setdefault(statuses[key], []).append(_stat(key, statuses[key], tally, since))
    for stats in out.values():
        stats.sort(key=lambda s: (-s.messages, s.key))
    return out


def senders_page(
    domain: Domain, page: int, status: str | None, judged: dict[str, list[SenderStat]]
) -> SenderPage:
    """One page of the domain's senders in the window, busiest first, paged in SQL."""
    since, until = window()
    size = SENDERS_PER_PAGE
    total_messages = coverage(domain.id, since, until).messages
    if status is None:
        found = sender_page(domain.id, since, until, limit=size, offset=(max(page, 1) - 1) * size)
        stats, total = found.items, found.total
    else:
        every = judged.get(status, [])
        stats, total = every[(page - 1) * size : page * size], len(every)
    pages = max(1, -(-total // size))
    tallies = _tallies(domain, [s.key for s in stats], since, until) if stats else {}
    judged_count = sum(len(v) for v in judged.values())
    return SenderPage(
        rows=_facts(domain, stats, tallies),
        total=total,
        page=min(max(page, 1), pages),
        pages=pages,
        unknown_messages=total_messages - sum(s.messages for v in judged.values() for s in v),
        unknown_senders=max(total - judged_count, 0) if status is None else 0,
        messages=total_messages,
    )


def domain_page(
    domain: Domain, page: int = 1, status: str | None = None, *, live: bool = False
) -> DomainPage:
    tenant = tenant_of(domain)
    posture = dns_service.latest_posture(domain.id)
    spf_published = posture.result.get("spf") if posture else None
    verdicts = {k: v for k, v in sender_statuses(domain).items() if v != "unknown"}
    judged = judged_senders(domain, verdicts)
    senders = senders_page(domain, page, status, judged)
    config = current_app.config
    return DomainPage(
        domain=domain,
        tenant=tenant,
        zone=tenant_zone(tenant),
        posture=posture,
        findings=relevant_findings(dns_service.open_findings(domain), domain.parked),
        senders=senders,
        spf=suggest_spf(judged.get("approved", []), spf_published),
        plan=read_plan(domain, live=live),
        report_address=report_address(tenant, config),
        reports_domain_missing=not config.get("MSP_REPORTS_DOMAIN"),
        timeline=list(
            db.session.scalars(policy_service.timeline_select(domain).limit(TIMELINE_LIMIT))
        ),
        changes=list(db.session.scalars(policy_service.changes_select(domain).limit(10))),
    )


def local_time(value: datetime | str | None, zone: ZoneInfo, fmt: str = "%d %b %Y %H:%M") -> str:
    """A UTC time shown in the tenant's zone, with the zone's abbreviation."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(zone).strftime(fmt + " %Z").strip()
