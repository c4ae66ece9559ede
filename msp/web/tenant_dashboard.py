"""The tenant dashboard's read model: what a client sees (and staff when they open a client).
Each domain with its grade, stage, the next step and when it is expected or the one thing that
blocks it (from the policy engine's last evaluation and the open change), a 90-day compliance
chart from the per-domain day summary (``report_domain_day``), and how fresh the reports are.

A fixed number of queries whatever the number of domains (grouped, or one index probe per
domain inside one statement), never the per-IP roll-up, and no writes: a GET never creates a
plan (a domain the engine has not evaluated yet says so)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from msp.dns.models import PostureFinding, PostureRun
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy.loader import report_address
from msp.policy.models import PolicyChange, PolicyPlan
from msp.reports.models import Report, ReportDomainDay, ReportDomainLatest
from msp.tenancy.models import Tenant
from msp.web.charts import Period, compliance_svg
from msp.web.words import stage_words

CHART_DAYS = 91  # 13 whole weeks
FRESH_DAYS = 2  # reports arrive daily; older than this is worth a look


@dataclass(frozen=True)
class NextStep:
    """What happens next for a domain, in one sentence, and when if the engine can say."""

    text: str
    when: date | None = None
    blocked: bool = False


@dataclass(frozen=True)
class DomainLine:
    domain: Domain
    grade: str | None
    checked_at: datetime | None
    stage: str
    readiness: int | None
    next_step: NextStep
    open_problems: int
    last_report: datetime | None
    last_data_day: date | None


@dataclass(frozen=True)
class TenantDashboard:
    tenant: Tenant
    report_address: str
    report_address_warning: str | None
    lines: list[DomainLine]
    periods: list[Period]
    chart_svg: str
    messages: int
    pass_rate: float | None


def _latest_runs(tenant_id: int) -> dict[int, tuple[str, datetime]]:
    # Each domain's latest run: one backward probe of (domain_id, checked_at DESC, id DESC) per
    # domain, all in one statement (portable: SQLite too), not every run of the tenant.
    latest = (
        select(PostureRun.id)
        .where(PostureRun.domain_id == Domain.id)
        .order_by(PostureRun.checked_at.desc(), PostureRun.id.desc())
        .limit(1)
        .correlate(Domain)
        .scalar_subquery()
    )
    ids = select(latest).where(Domain.tenant_id == tenant_id)
    rows = db.session.execute(
        select(PostureRun.domain_id, PostureRun.grade, PostureRun.checked_at).where(
            PostureRun.tenant_id == tenant_id, PostureRun.id.in_(ids)
        )
    )
    return {domain_id: (grade, at) for domain_id, grade, at in rows}


def _open_changes(tenant_id: int) -> dict[int, PolicyChange]:
    rows = db.session.scalars(
        select(PolicyChange).where(
            PolicyChange.tenant_id == tenant_id,
            PolicyChange.closed_at.is_(None),
            PolicyChange.status.in_(("proposed", "approved", "scheduled", "published")),
        )
    )
    return {change.domain_id: change for change in rows}


def _freshness(tenant_id: int) -> dict[int, tuple[datetime | None, date | None]]:
    """Per domain: the last report received and the last day with data (index probes)."""
    received = (
        select(func.max(Report.created_at))
        .where(Report.tenant_id == tenant_id, Report.domain_id == Domain.id)
        .correlate(Domain)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(Domain.id, received, ReportDomainLatest.last_day)
        .outerjoin(
            ReportDomainLatest,
            (ReportDomainLatest.tenant_id == Domain.tenant_id)
            & (ReportDomainLatest.domain_id == Domain.id),
        )
        .where(Domain.tenant_id == tenant_id)
    )
    return {domain_id: (at, day) for domain_id, at, day in rows if at or day}


def _problems(tenant_id: int) -> dict[int, int]:
    rows = db.session.execute(
        select(PostureFinding.domain_id, func.count())
        .where(
            PostureFinding.tenant_id == tenant_id,
            PostureFinding.closed_at.is_(None),
            PostureFinding.severity != "info",
        )
        .group_by(PostureFinding.domain_id)
    )
    return {domain_id: int(count) for domain_id, count in rows}


def _change_step(change: PolicyChange) -> NextStep:
    target = stage_words(change.to_stage)
    if change.status == "proposed":
        return NextStep(f"Move to {target}: waiting for approval by the MSP")
    if change.status in {"approved", "scheduled"}:
        when = change.scheduled_for.date() if change.scheduled_for else None
        return NextStep(f"Move to {target}: approved, issued in the next change window", when)
    return NextStep(
        f"Move to {target}: the new record was issued and must be published in DNS", blocked=True
    )


def _gate_step(evaluation: dict[str, Any], plan: PolicyPlan) -> NextStep:
    target = stage_words(evaluation.get("next_stage"))
    gates = evaluation.get("gates") or []
    blocking = [g for g in gates if g.get("status") != "passed"]
    if not blocking:
        return NextStep(f"Ready to move to {target}: the next step will be proposed")
    others = [g for g in blocking if g.get("gate") != "soak"]
    if others:
        return NextStep(f"Move to {target} blocked: {others[0].get('reason')}", blocked=True)
    evidence = blocking[0].get("evidence") or {}
    needed = int(evidence.get("needed", 0))
    when = (plan.stage_since + timedelta(days=needed)).date() if needed else None
    return NextStep(f"Move to {target} after the waiting time in this stage", when)


def next_step(plan: PolicyPlan | None, change: PolicyChange | None) -> NextStep:
    """The one sentence a client needs: what is next and when, or what blocks it."""
    if change is not None:
        return _change_step(change)
    if plan is None or not plan.last_evaluation:
        return NextStep("Not evaluated yet: the first check and reports decide the first step")
    evaluation = plan.last_evaluation
    if not evaluation.get("next_stage"):
        if plan.stage in {"reject", "parked"}:
            return NextStep("Fully protected: nothing left to do")
        reasons = evaluation.get("reasons") or ["no next step yet"]
        return NextStep(str(reasons[0]), blocked=True)
    return _gate_step(evaluation, plan)


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def compliance(tenant_id: int, today: date, domain_id: int | None = None) -> list[Period]:
    """Messages and DMARC passes per week over the last 13 weeks (empty weeks included).
    Summed per day in SQL from the day summary (at most 91 rows per domain), bucketed into
    weeks here (portable)."""
    first = _week_start(today - timedelta(days=CHART_DAYS - 1))
    on = ReportDomainDay.day
    stmt = (
        select(on, func.sum(ReportDomainDay.messages), func.sum(ReportDomainDay.passed))
        .where(ReportDomainDay.tenant_id == tenant_id, on >= first, on <= today)
        .group_by(on)
    )
    if domain_id is not None:
        stmt = stmt.where(ReportDomainDay.domain_id == domain_id)
    weeks: dict[date, tuple[int, int]] = {}
    for day, messages, ok in db.session.execute(stmt):
        start = _week_start(day)
        before = weeks.get(start, (0, 0))
        weeks[start] = (before[0] + int(messages or 0), before[1] + int(ok or 0))
    periods, start = [], first
    while start <= today:
        messages, ok = weeks.get(start, (0, 0))
        periods.append(Period(start, messages, ok))
        start += timedelta(days=7)
    return periods


def address_warning(config: Any) -> str | None:
    """A loud warning when report addresses cannot be right (no reports domain configured)."""
    if config.get("MSP_REPORTS_DOMAIN"):
        return None
    if config.get("MSP_ENV") in {"production", "prod"}:
        return (
            "MSP_REPORTS_DOMAIN is not set: the report address below is a placeholder built "
            "from MSP_BASE_URL and receivers will not deliver reports to it. Set it before "
            "anyone publishes this record."
        )
    return (
        "MSP_REPORTS_DOMAIN is not set: the address below is built from MSP_BASE_URL "
        "(reports.invalid when that is an IP address or localhost). Fine for a trial; set it "
        "for real clients."
    )


def _line(domain: Domain, data: dict[str, Any]) -> DomainLine:
    run, plan = data["runs"].get(domain.id), data["plans"].get(domain.id)
    fresh = data["fresh"].get(domain.id)
    return DomainLine(
        domain=domain,
        grade=run[0] if run else None,
        checked_at=run[1] if run else None,
        stage=plan.stage if plan else "not evaluated",
        readiness=plan.readiness if plan and plan.last_evaluation else None,
        next_step=next_step(plan, data["changes"].get(domain.id)),
        open_problems=data["problems"].get(domain.id, 0),
        last_report=fresh[0] if fresh else None,
        last_data_day=fresh[1] if fresh else None,
    )


def tenant_dashboard(tenant: Tenant, today: date) -> TenantDashboard:
    domains = list(
        db.session.scalars(
            select(Domain).where(Domain.tenant_id == tenant.id).order_by(Domain.name)
        )
    )
    data = {
        "runs": _latest_runs(tenant.id),
        "plans": {
            p.domain_id: p
            for p in db.session.scalars(select(PolicyPlan).where(PolicyPlan.tenant_id == tenant.id))
        },
        "changes": _open_changes(tenant.id),
        "fresh": _freshness(tenant.id),
        "problems": _problems(tenant.id),
    }
    periods = compliance(tenant.id, today)
    messages = sum(p.messages for p in periods)
    passed = sum(p.passed for p in periods)
    config = current_app.config
    return TenantDashboard(
        tenant=tenant,
        report_address=report_address(tenant, config).removeprefix("mailto:"),
        report_address_warning=address_warning(config),
        lines=[_line(domain, data) for domain in domains],
        periods=periods,
        chart_svg=compliance_svg(
            periods, f"Weekly mail volume and DMARC pass share of {tenant.name}"
        ),
        messages=messages,
        pass_rate=passed / messages if messages else None,
    )
