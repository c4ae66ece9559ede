"""The domain page's read model: everything one domain page shows, gathered through the areas'
services and read-only queries, without writing anything.

The policy plan is read inside a SAVEPOINT that is always rolled back: ``plan_view`` may create
the plan or adopt a published stage, and a GET must never write (the daily evaluation and the
domain's creation are where plans are made). The senders are one capped page ("and N more"),
and the facts shown beside each sender (networks, DKIM and SPF domains, trend) are read for
that page's senders only, so a domain with 120,000 source IPs still renders a small page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import String, and_, case, func, literal, or_, select

from msp.db import utcnow
from msp.dns import service as dns_service
from msp.dns.models import PostureFinding, RecordDrift
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy import service as policy_service
from msp.policy.loader import report_address
from msp.policy.models import PolicyChange, PolicyTimelineEntry
from msp.reports.models import DkimSelectorSeen, IpInfo, Report, ReportDaily, ReportRecord
from msp.reports.queries import (
    SenderNetwork,
    SenderStat,
    SourceIp,
    TlsStat,
    sender_stats,
    tls_summary,
)
from msp.reports.queries import _network as network_of  # one rule for the network summary
from msp.tenancy.models import Tenant
from msp.web.domain_advice import SpfAdvice, relevant_findings, suggest_spf

SENDER_WINDOW_DAYS = 30
SENDERS_PER_PAGE = 25
TIMELINE_LIMIT = 25
HISTORY_LIMIT = 15
FAILURES_LIMIT = 20
SPF_SAMPLE_REPORTS = 50  # SPF domains are read from the latest reports only (report_record)


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


@dataclass(frozen=True)
class SenderPage:
    rows: list[tuple[SenderStat, SenderFacts]]
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


def _window() -> tuple[date, date]:
    today = utcnow().date()
    return today - timedelta(days=SENDER_WINDOW_DAYS), today


def _change_data(change: PolicyChange | None) -> dict[str, Any] | None:
    if change is None:
        return None
    names = ("id", "kind", "from_stage", "to_stage", "status", "proposed_at", "proposed_by")
    more = ("decided_at", "decided_by", "scheduled_for", "published_at", "note", "records")
    return {name: getattr(change, name) for name in (*names, *more)}


def read_plan(domain: Domain) -> PlanData:
    """The engine's verdict now, with nothing it may have written kept."""
    from msp.policy.models import PolicyPlan

    planned = (
        db.session.scalar(
            select(PolicyPlan.id).where(
                PolicyPlan.tenant_id == domain.tenant_id, PolicyPlan.domain_id == domain.id
            )
        )
        is not None
    )
    savepoint = db.session.begin_nested()
    try:
        view = policy_service.plan_view(domain, utcnow())
        data = PlanData(view.as_dict(), _change_data(view.change), planned)
    finally:
        savepoint.rollback()
    return data


def _key(ip_column: Any) -> Any:
    return func.coalesce(IpInfo.sender_key, literal("ip:", String) + ip_column)


def _keys_filter(keys: list[str], ip_column: Any) -> Any:
    """Rows of the given sender keys (``ip:`` keys by address, named ones by the IP facts)."""
    ips = [k.removeprefix("ip:") for k in keys if k.startswith("ip:")]
    named = [k for k in keys if not k.startswith("ip:")]
    return or_(
        and_(IpInfo.sender_key.is_(None), ip_column.in_(ips or [""])),
        IpInfo.sender_key.in_(named or [""]),
    )


def _daily_base(domain: Domain, since: date, until: date) -> list[Any]:
    return [
        ReportDaily.tenant_id == domain.tenant_id,
        ReportDaily.domain_id == domain.id,
        ReportDaily.day >= since,
        ReportDaily.day <= until,
    ]


def _networks_and_trend(
    domain: Domain, keys: list[str], since: date, until: date
) -> tuple[dict[str, list[SourceIp]], dict[str, tuple[int, int]]]:
    key = _key(ReportDaily.source_ip).label("key")
    mid = since + (until - since) / 2
    facts = (IpInfo.ptr, IpInfo.asn, IpInfo.as_name, IpInfo.country)
    rows = db.session.execute(
        select(
            key,
            ReportDaily.source_ip,
            func.sum(ReportDaily.messages),
            func.sum(case((ReportDaily.day > mid, ReportDaily.messages), else_=0)),
            *facts,
        )
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip)
        .where(*_daily_base(domain, since, until), _keys_filter(keys, ReportDaily.source_ip))
        .group_by(key, ReportDaily.source_ip, *facts)
    )
    ips: dict[str, list[SourceIp]] = {}
    trend: dict[str, tuple[int, int]] = {}
    for sender, ip, total, recent, ptr, asn, as_name, country in rows:
        ips.setdefault(sender, []).append(
            SourceIp(ip, int(total), ptr, asn, as_name, country.upper() if country else None)
        )
        r, e = trend.get(sender, (0, 0))
        trend[sender] = (r + int(recent), e + int(total) - int(recent))
    return ips, trend


def _dkim(domain: Domain, keys: list[str], since: date) -> dict[str, set[tuple[str, str, bool]]]:
    key = _key(DkimSelectorSeen.source_ip)
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
    key = _key(ReportRecord.source_ip)
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


def sender_facts(
    domain: Domain, keys: list[str], since: date, until: date
) -> dict[str, SenderFacts]:
    """Networks, DKIM and SPF domains and the trend of the given senders only."""
    if not keys:
        return {}
    ips, trend = _networks_and_trend(domain, keys, since, until)
    dkim, spf = _dkim(domain, keys, since), _spf_domains(domain, keys)
    return {
        k: SenderFacts(
            network=network_of(ips.get(k, [])),
            dkim=tuple(sorted(dkim.get(k, ()))),
            spf_domains=tuple(sorted(spf.get(k, ()))),
            recent=trend.get(k, (0, 0))[0],
            earlier=trend.get(k, (0, 0))[1],
        )
        for k in keys
    }


def with_network(stat: SenderStat, facts: SenderFacts) -> SenderStat:
    from dataclasses import replace

    return replace(stat, network=facts.network)


def senders_page(domain: Domain, page: int, status: str | None = None) -> SenderPage:
    """One page of the domain's senders in the window, busiest first."""
    since, until = _window()
    stats = sender_stats(domain.id, since, until)
    unknown = [s for s in stats if s.status == "unknown"]
    shown = [s for s in stats if status is None or s.status == status]
    pages = max(1, -(-len(shown) // SENDERS_PER_PAGE))
    page = min(max(page, 1), pages)
    chunk = shown[(page - 1) * SENDERS_PER_PAGE : page * SENDERS_PER_PAGE]
    facts = sender_facts(domain, [s.key for s in chunk], since, until)
    return SenderPage(
        rows=[(with_network(s, facts[s.key]), facts[s.key]) for s in chunk],
        total=len(shown),
        page=page,
        pages=pages,
        unknown_messages=sum(s.messages for s in unknown),
        unknown_senders=len(unknown),
        messages=sum(s.messages for s in stats),
    )


def _approved_with_network(domain: Domain) -> list[SenderStat]:
    """The approved senders with their networks (the SPF advice needs their addresses)."""
    since, until = _window()
    approved = [s for s in sender_stats(domain.id, since, until) if s.status == "approved"]
    facts = sender_facts(domain, [s.key for s in approved], since, until)
    return [with_network(s, facts[s.key]) for s in approved]


def domain_page(domain: Domain, page: int = 1, status: str | None = None) -> DomainPage:
    tenant = tenant_of(domain)
    posture = dns_service.latest_posture(domain.id)
    spf_published = posture.result.get("spf") if posture else None
    config = current_app.config
    return DomainPage(
        domain=domain,
        tenant=tenant,
        zone=tenant_zone(tenant),
        posture=posture,
        findings=relevant_findings(dns_service.open_findings(domain), domain.parked),
        senders=senders_page(domain, page, status),
        spf=suggest_spf(_approved_with_network(domain), spf_published),
        plan=read_plan(domain),
        report_address=report_address(tenant, config),
        reports_domain_missing=not config.get("MSP_REPORTS_DOMAIN"),
        timeline=list(
            db.session.scalars(policy_service.timeline_select(domain).limit(TIMELINE_LIMIT))
        ),
        changes=list(db.session.scalars(policy_service.changes_select(domain).limit(10))),
    )


@dataclass(frozen=True)
class ActivityPage:
    """TLS reports, failure reports and the DNS history of one domain."""

    tls: list[TlsStat]
    failures: list[Any]
    history: list[tuple[Any, list[RecordDrift]]]


def activity(domain: Domain) -> ActivityPage:
    from msp.reports.models import FailureReportRow

    since, until = _window()
    failures = list(
        db.session.scalars(
            select(FailureReportRow)
            .where(
                FailureReportRow.tenant_id == domain.tenant_id,
                FailureReportRow.domain_id == domain.id,
            )
            .order_by(FailureReportRow.arrival.desc())
            .limit(FAILURES_LIMIT)
        )
    )
    runs = list(db.session.scalars(dns_service.history_select(domain).limit(HISTORY_LIMIT)))
    drifts = dns_service.drift_of_runs([r.id for r in runs])
    return ActivityPage(
        tls=tls_summary(domain.id, since, until),
        failures=failures,
        history=[(run, drifts.get(run.id, [])) for run in runs],
    )


def local_time(value: datetime | str | None, zone: ZoneInfo, fmt: str = "%d %b %Y %H:%M") -> str:
    """A UTC time shown in the tenant's zone, with the zone's abbreviation."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(zone).strftime(fmt + " %Z").strip()
