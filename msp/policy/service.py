"""The policy area's service: plans, daily evaluation, decisions on changes, what-if, timeline.

Callers (API, CLI, jobs) come here. It loads facts (:mod:`msp.policy.loader`), asks the pure
engine, and persists what follows (:mod:`msp.policy.changes`, :mod:`msp.policy.timeline`).
It never commits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from msp.auth.audit import audit
from msp.db import utcnow
from msp.domains.models import Domain
from msp.errors import Conflict, NotFound, ValidationFailed
from msp.extensions import db
from msp.policy import changes, timeline
from msp.policy.engine import Action, Evaluation, evaluate
from msp.policy.facts import DomainFacts
from msp.policy.loader import (
    EvidenceSource,
    domain_settings,
    evidence_source,
    evidence_window,
    forwarded_rows,
    load_facts,
    with_forwarding,
)
from msp.policy.models import PolicyChange, PolicyPlan, PolicyTimelineEntry
from msp.policy.records import infer_stage
from msp.policy.simulate import SimulationInputError, parse_proposal, simulate
from msp.policy.stages import Stage, rollback_target
from msp.policy.views import evaluation_view, simulation_view
from msp.tenancy.models import Tenant

MAX_SIMULATION_DAYS = 366


@dataclass(frozen=True)
class PlanView:
    """A domain's plan now: the stored stage, the engine's verdict and the open change."""

    domain: Domain
    plan: PolicyPlan
    evaluation: Evaluation
    change: PolicyChange | None
    evaluated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain_id": self.domain.id,
            "domain": self.domain.name,
            "stage_since": self.plan.stage_since.isoformat(),
            "evaluated_at": self.evaluated_at.isoformat(),
            "open_change_id": self.change.id if self.change else None,
            **evaluation_view(self.evaluation),
        }


def _tenant(domain: Domain) -> Tenant:
    tenant = db.session.get(Tenant, domain.tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {domain.tenant_id} not found")
    return tenant


def _stored_plan(domain: Domain) -> PolicyPlan | None:
    return db.session.scalar(
        select(PolicyPlan).where(
            PolicyPlan.tenant_id == domain.tenant_id, PolicyPlan.domain_id == domain.id
        )
    )


def ensure_plan(domain: Domain, source: EvidenceSource, now: datetime) -> PolicyPlan:
    """The domain's plan, created if needed. A plan without a record adopts the stage of a
    record found published (a domain joining at ``p=reject`` must never be proposed
    ``p=none``)."""
    plan = _stored_plan(domain)
    if plan is None:
        plan = _new_plan(domain, now)
        db.session.add(plan)
        db.session.flush()
    if plan.stage == Stage.NONE.value:
        stage = _adoptable(domain, source)
        if stage is not None:
            _adopt(domain, plan, stage, source, now)
    return plan


def _new_plan(domain: Domain, now: datetime) -> PolicyPlan:
    return PolicyPlan(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        stage=Stage.NONE.value,
        stage_since=now,
        readiness=0,
        last_evaluation={},
    )


def peek_plan(domain: Domain, source: EvidenceSource, now: datetime) -> PolicyPlan:
    """The plan as :func:`ensure_plan` would make it, without writing anything: a GET never
    writes. A missing or adoptable plan is a transient object, never added to the session."""
    plan = _stored_plan(domain)
    if plan is not None and plan.stage != Stage.NONE.value:
        return plan
    stage = _adoptable(domain, source)
    if plan is not None and stage is None:
        return plan
    preview = _new_plan(domain, now)
    if plan is not None:
        preview.stage_since, preview.readiness = plan.stage_since, plan.readiness
    if stage is not None:
        preview.stage = stage.value
    return preview


def _adoptable(domain: Domain, source: EvidenceSource) -> Stage | None:
    posture = source.posture(domain.id)
    stage = infer_stage(posture.dmarc_tags if posture else None)
    if stage is Stage.NONE or changes.open_change(domain) is not None:
        return None
    return stage


def _adopt(
    domain: Domain, plan: PolicyPlan, stage: Stage, source: EvidenceSource, now: datetime
) -> None:
    posture = source.posture(domain.id)
    plan.stage, plan.stage_since = stage.value, now
    timeline.record(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        kind="adopted",
        stage=stage.value,
        summary=f"the published record is already at {stage.value}: the plan starts there",
        evidence={"published": dict(posture.dmarc_tags or {}) if posture else {}},
        at=now,
    )


def _facts(
    domain: Domain, now: datetime, source: EvidenceSource | None = None, *, read_only: bool = False
) -> tuple[PolicyPlan, PolicyChange | None, DomainFacts]:
    source = source or evidence_source()
    plan = peek_plan(domain, source, now) if read_only else ensure_plan(domain, source, now)
    change = changes.open_change(domain)
    return plan, change, load_facts(domain, _tenant(domain), plan, change, now, source)


def plan_view(domain: Domain, now: datetime | None = None) -> PlanView:
    """The engine's verdict now, without acting on it or writing anything (``msp plan``,
    ``GET .../plan``, the pages, the digest)."""
    now = now or utcnow()
    plan, change, facts = _facts(domain, now, read_only=True)
    return PlanView(domain, plan, evaluate(facts, now), change, now)


def _act(domain: Domain, facts: DomainFacts, result: Evaluation, now: datetime) -> None:
    if result.action in {Action.PROPOSE, Action.ROLLBACK}:
        changes.open_for(domain, facts, result, now, by="engine")
    elif result.action is Action.WITHDRAW:
        change = changes.open_change(domain, lock=True)
        if change is not None:
            changes.withdraw(change, result.reasons, now, facts)


def evaluate_domain(
    domain_id: int, now: datetime | None = None, *, force: bool = False
) -> Evaluation | None:
    """The daily evaluation of one domain: record it, then propose, withdraw or roll back.
    Safe to run twice: a domain already evaluated today is skipped unless ``force``."""
    now = now or utcnow()
    domain = db.session.get(Domain, domain_id)
    if domain is None:
        return None
    source = evidence_source()
    plan_id = ensure_plan(domain, source, now).id
    last = db.session.scalar(  # the row lock serialises concurrent evaluations of a domain
        select(PolicyPlan.last_evaluated_at).where(PolicyPlan.id == plan_id).with_for_update()
    )
    if not force and last is not None and last.date() == now.date():
        return None
    plan, _, facts = _facts(domain, now, source)
    result = evaluate(facts, now)
    view = evaluation_view(result)
    # a forced evaluation (after each DNS check) writes the timeline only when something
    # changed; the first of the day always does
    noteworthy = last is None or last.date() != now.date() or view != plan.last_evaluation
    new_drift = view["drift"] is not None and view["drift"] != plan.last_evaluation.get("drift")
    plan.readiness, plan.last_evaluated_at, plan.last_evaluation = result.readiness, now, view
    if noteworthy:
        _record_evaluation(domain, plan, result, view, now, drift=new_drift)
    _act(domain, facts, result, now)
    return result


def _record_evaluation(
    domain: Domain,
    plan: PolicyPlan,
    result: Evaluation,
    view: dict[str, Any],
    now: datetime,
    *,
    drift: bool,
) -> None:
    """The timeline entry of an evaluation, and a drift entry (a warning event) when the
    drift is new or changed: a lasting drift is in every evaluation, not a daily alarm."""
    timeline.record(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        kind="evaluated",
        stage=plan.stage,
        summary=f"{result.action.value}: " + "; ".join(result.reasons),
        evidence=view,
        at=now,
    )
    if drift and result.drift is not None:
        timeline.record(
            tenant_id=domain.tenant_id,
            domain_id=domain.id,
            kind="drift",
            stage=plan.stage,
            summary="; ".join(result.drift.reasons),
            evidence={"drift": view["drift"]},
            at=now,
        )


def propose(domain: Domain, now: datetime | None = None) -> PolicyChange:
    """Propose the next stage by hand; only a domain whose gates all pass can be proposed."""
    now = now or utcnow()
    _, change, facts = _facts(domain, now)
    if change is not None:
        raise Conflict(f"change {change.id} is already open for {domain.name}")
    result = evaluate(facts, now)
    if result.action is not Action.PROPOSE:
        blocked = [r for g in result.gates if not g.passed for r in g.reasons]
        raise Conflict(
            f"{domain.name} is not ready for {result.next_stage or 'another stage'}",
            errors={"gates": blocked or list(result.reasons)},
        )
    change = changes.open_for(domain, facts, result, now, by=timeline.actor_label())
    audit(
        "policy.propose",
        "policy_change",
        change.id,
        tenant_id=domain.tenant_id,
        changes={"to_stage": change.to_stage},
    )
    return change


def _change_facts(change: PolicyChange, now: datetime) -> tuple[PolicyPlan, DomainFacts]:
    domain = db.session.get(Domain, change.domain_id)
    if domain is None:
        raise NotFound(f"domain {change.domain_id} not found")
    plan, _, facts = _facts(domain, now)
    return plan, facts


def propose_rollback(domain: Domain, reason: str, now: datetime | None = None) -> PolicyChange:
    """A rollback proposed by hand, with a reason: one step back as the engine would take
    (the highest stage whose failing mail is delivered under RFC 7489 and RFC 9989 alike)."""
    now = now or utcnow()
    if not reason.strip():
        raise ValidationFailed("say why", errors={"reason": ["required"]})
    _, _, facts = _facts(domain, now)
    back = rollback_target(facts.stage, legacy_pct_ramp=facts.settings.legacy_pct_ramp)
    if back is None:
        raise Conflict(f"{domain.name} is at {facts.stage.value}: there is nothing to roll back")
    by = timeline.actor_label()
    result = replace(
        evaluate(facts, now),
        action=Action.ROLLBACK,
        target=back,
        auto=False,
        reasons=(f"rollback proposed by {by}: {reason.strip()}",),
    )
    change = changes.open_for(domain, facts, result, now, by=by)
    audit(
        "policy.rollback",
        "policy_change",
        change.id,
        tenant_id=domain.tenant_id,
        changes={"to_stage": change.to_stage, "reason": reason.strip()},
    )
    return change


def sender_list(domain: Domain, days: int | None = None) -> list[dict[str, Any]]:
    """The domain's senders in the window (the gates' by default), as the plan sees them."""
    now = utcnow()
    days = days or domain_settings(_tenant(domain), domain).window_days
    since, until = evidence_window(now, days)
    source = evidence_source()
    signs = source.forwarding(domain.id, since, until)
    return [
        {
            "key": s.key,
            "name": s.name,
            "status": s.status.value,
            "forwarded": s.forwarded,
            "messages": s.messages,
            "pass_share": round(s.pass_share, 4),
            "first_seen": s.first_seen.isoformat(),
            "last_seen": s.last_seen.isoformat(),
        }
        for s in with_forwarding(source.senders(domain.id, since, until), signs)
    ]


def approve(change: PolicyChange, now: datetime | None = None) -> PolicyChange:
    now = now or utcnow()
    _, facts = _change_facts(change, now)
    return changes.approve(change, facts, now, by=timeline.actor_label())


def reject(
    change: PolicyChange, note: str | None = None, now: datetime | None = None
) -> PolicyChange:
    return changes.reject(change, now or utcnow(), by=timeline.actor_label(), note=note)


def schedule(change: PolicyChange, at: datetime, now: datetime | None = None) -> PolicyChange:
    return changes.schedule(change, at, now or utcnow(), by=timeline.actor_label())


def advance_change(change_id: int, now: datetime | None = None) -> str:
    """The timed move of one change (publish, verify, remind). Safe to run twice."""
    now = now or utcnow()
    change = db.session.scalar(
        select(PolicyChange).where(PolicyChange.id == change_id).with_for_update()
    )
    if change is None or change.closed_at is not None:
        return "closed"
    plan, facts = _change_facts(change, now)
    return changes.advance(change, plan, facts, now)


def due_change_ids(now: datetime | None = None) -> list[int]:
    return changes.due_change_ids(now or utcnow())


def evaluable_domain_ids() -> list[int]:
    """Every domain of every active tenant (for the daily sweep)."""
    stmt = (
        select(Domain.id)
        .join(Tenant, Tenant.id == Domain.tenant_id)
        .where(Tenant.status == "active")
        .order_by(Domain.id)
    )
    return list(db.session.scalars(stmt))


def simulate_domain(
    domain: Domain, record: str, days: int | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """What-if: the last ``days`` days of reports replayed under ``record`` (by default the
    gates' evidence window, so the what-if and the plan read the same mail). Senders carry the
    names the plan uses, and forwarded sources are one line, as in the plan."""
    days = days or domain_settings(_tenant(domain), domain).window_days
    if not 1 <= days <= MAX_SIMULATION_DAYS:
        raise ValidationFailed(
            f"days must be 1 to {MAX_SIMULATION_DAYS}", errors={"days": ["out of range"]}
        )
    try:
        policy = parse_proposal(record)
    except SimulationInputError as exc:
        raise ValidationFailed(str(exc), errors={"record": [str(exc)]}) from exc
    since, until = evidence_window(now or utcnow(), days)
    source = evidence_source()
    names = {s.key: s.name for s in source.senders(domain.id, since, until)}
    rows = [
        replace(r, sender_name=r.sender_name or names.get(r.sender_key, r.sender_key))
        for r in source.daily_rows(domain.id, since, until)
    ]
    rows = forwarded_rows(rows, source.forwarding(domain.id, since, until))
    return simulation_view(simulate(domain.name, rows, policy), record)


def changes_select(domain: Domain) -> Select[PolicyChange]:
    return (
        select(PolicyChange)
        .where(PolicyChange.tenant_id == domain.tenant_id, PolicyChange.domain_id == domain.id)
        .order_by(PolicyChange.id.desc())
    )


def timeline_select(domain: Domain) -> Select[PolicyTimelineEntry]:
    return (
        select(PolicyTimelineEntry)
        .where(
            PolicyTimelineEntry.tenant_id == domain.tenant_id,
            PolicyTimelineEntry.domain_id == domain.id,
        )
        .order_by(PolicyTimelineEntry.at.desc(), PolicyTimelineEntry.id.desc())
    )


def tenant_readiness(tenant: Tenant) -> dict[str, Any]:
    """The tenant's readiness: the mean of its domains' last readiness, and each stage's count."""
    rows = db.session.execute(
        select(PolicyPlan.stage, func.count(), func.avg(PolicyPlan.readiness))
        .where(PolicyPlan.tenant_id == tenant.id)
        .group_by(PolicyPlan.stage)
    ).all()
    total = sum(count for _, count, _ in rows)
    score = sum(float(avg or 0) * count for _, count, avg in rows) / total if total else 0.0
    return {
        "tenant_id": tenant.id,
        "domains": total,
        "readiness": round(score),
        "stages": {stage: count for stage, count, _ in rows},
    }


def set_policy_settings(owner: Tenant | Domain, raw: dict[str, Any]) -> dict[str, Any]:
    """Validate and store a tenant's or a domain's ``policy`` settings object."""
    from msp.policy.settings import validate

    validate(raw)
    owner.settings = {**(owner.settings or {}), "policy": raw}
    tenant_id = owner.id if isinstance(owner, Tenant) else owner.tenant_id
    kind = "tenant" if isinstance(owner, Tenant) else "domain"
    audit(f"{kind}.policy_settings", kind, owner.id, tenant_id=tenant_id, changes=raw)
    return raw
