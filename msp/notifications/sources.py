"""What the other areas tell the weekly digest, read through their typed public functions.

- DNS: :func:`msp.dns.service.latest_posture` and the posture history (grade, published policy
  now and a week ago, open finding codes);
- policy: :func:`msp.policy.service.plan_view` (stage, next stage, what blocks it, the open
  change and its date);
- reports: :func:`msp.reports.queries.sender_stats` (new senders) and the daily roll-up
  summed per week (DMARC pass share and volume for the chart).

Every edge is typed: a renamed field fails mypy, never turns into "not available".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Integer, case, cast, func, select

from msp.dns.models import PostureRun
from msp.dns.service import PostureView, history_select, latest_posture, view_of
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy.service import PlanView, plan_view
from msp.reports.models import ReportDaily
from msp.reports.queries import SenderStat, sender_stats


@dataclass(frozen=True)
class PlanFacts:
    """The parts of a domain's policy plan the digest tells."""

    stage: str
    next_stage: str | None
    readiness: int
    action: str
    blocked: tuple[tuple[str, str], ...]  # (gate, reason) of every gate that blocks
    ready_on: datetime | None  # only the minimum time in the stage blocks: when it ends
    change_to: str | None
    change_status: str | None
    change_at: datetime | None


@dataclass(frozen=True)
class DomainFacts:
    """One domain as the digest sees it this week."""

    id: int
    name: str
    posture: PostureView | None
    policy_last_week: str | None
    checked_last_week: bool
    plan: PlanFacts | None
    new_senders: tuple[SenderStat, ...]


@dataclass(frozen=True)
class WeekTotal:
    """Mail of the tenant's domains in one ISO week (from the aggregate reports)."""

    start: date
    messages: int
    passed: int

    @property
    def share(self) -> float | None:
        return self.passed / self.messages if self.messages else None


def plan_facts(view: PlanView) -> PlanFacts:
    evaluation, change = view.evaluation, view.change
    blocked = tuple((gate.gate, reason) for gate in evaluation.gates for reason in gate.reasons)
    change_at = None
    if change is not None:
        change_at = change.scheduled_for or change.proposed_at
    return PlanFacts(
        stage=evaluation.stage.value,
        next_stage=evaluation.next_stage.value if evaluation.next_stage else None,
        readiness=evaluation.readiness,
        action=evaluation.action.value,
        blocked=blocked,
        ready_on=_ready_on(view),
        change_to=change.to_stage if change else None,
        change_status=change.status if change else None,
        change_at=change_at,
    )


def _ready_on(view: PlanView) -> datetime | None:
    waiting = [g for g in view.evaluation.gates if not g.passed]
    if view.evaluation.next_stage is None or [g.gate for g in waiting] != ["soak"]:
        return None
    needed = dict(waiting[0].evidence).get("needed")
    if not isinstance(needed, int):
        return None
    return view.plan.stage_since + timedelta(days=needed)


def posture_before(domain: Domain, moment: datetime) -> PostureView | None:
    """The domain's posture as last checked before ``moment``."""
    run = db.session.scalar(history_select(domain).where(PostureRun.checked_at < moment).limit(1))
    return None if run is None else view_of(run)


def _plan(domain: Domain, now: datetime) -> PlanFacts:
    # plan_view may create the domain's plan row: the digest only reads, so whatever it
    # writes is rolled back with a savepoint.
    savepoint = db.session.begin_nested()
    try:
        return plan_facts(plan_view(domain, now))
    finally:
        savepoint.rollback()


def domain_facts(domain: Domain, now: datetime) -> DomainFacts:
    """What the digest says about ``domain`` for the week up to ``now``."""
    since = now - timedelta(days=7)
    before = posture_before(domain, since)
    senders = sender_stats(domain.id, since, now)
    return DomainFacts(
        id=domain.id,
        name=domain.name,
        posture=latest_posture(domain.id),
        policy_last_week=before.dmarc_policy if before else None,
        checked_last_week=before is not None,
        plan=_plan(domain, now),
        new_senders=tuple(s for s in senders if s.is_new),
    )


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def weekly_totals(
    tenant_id: int, domain_ids: Sequence[int], last_day: date, weeks: int
) -> list[WeekTotal]:
    """Messages and DMARC passes per ISO week for ``weeks`` weeks up to ``last_day``'s week
    (weeks without reports count zero, so the chart keeps its time axis)."""
    first = week_start(last_day) - timedelta(weeks=weeks - 1)
    week = func.date_trunc("week", ReportDaily.day)
    passed = case(
        (ReportDaily.spf_aligned | ReportDaily.dkim_aligned, ReportDaily.messages), else_=0
    )
    rows = db.session.execute(
        select(week, func.sum(ReportDaily.messages), func.sum(cast(passed, Integer)))
        .where(
            ReportDaily.tenant_id == tenant_id,
            ReportDaily.domain_id.in_(list(domain_ids) or [0]),
            ReportDaily.day >= first,
            ReportDaily.day <= last_day,
        )
        .group_by(week)
    ).all()
    found = {start.date(): (int(total or 0), int(ok or 0)) for start, total, ok in rows}
    return [
        WeekTotal(day, *found.get(day, (0, 0)))
        for day in (first + timedelta(weeks=n) for n in range(weeks))
    ]
