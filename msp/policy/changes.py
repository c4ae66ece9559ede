"""The life of a stage change: open (proposed or rolled back), approve, reject, schedule, and
the timed moves (issue at the change window, verify against the DNS check, remind).

Callers own the transaction; every change writes the timeline, an event and (for people's
decisions) the audit log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select

from msp.auth.audit import audit
from msp.dns.service import check_job_id
from msp.domains.models import Domain
from msp.errors import Conflict, ValidationFailed
from msp.extensions import db
from msp.policy import timeline
from msp.policy.engine import Action, Evaluation, StepKind, evaluate, step_change
from msp.policy.facts import OPEN_STATUSES, ChangeKind, ChangeStatus, DomainFacts
from msp.policy.loader import pending_of
from msp.policy.models import PolicyChange, PolicyPlan
from msp.policy.records import records_for_stage
from msp.policy.stages import StageError, check_transition
from msp.policy.views import evaluation_view, records_view
from msp.queues import CHECKS, DEFAULT, enqueue

OPEN = tuple(s.value for s in OPEN_STATUSES)
DECIDABLE = (ChangeStatus.PROPOSED.value, ChangeStatus.APPROVED.value, ChangeStatus.SCHEDULED.value)


def open_change(domain: Domain, *, lock: bool = False) -> PolicyChange | None:
    stmt = select(PolicyChange).where(
        PolicyChange.tenant_id == domain.tenant_id,
        PolicyChange.domain_id == domain.id,
        PolicyChange.status.in_(OPEN),
    )
    return db.session.scalar(stmt.with_for_update() if lock else stmt)


def _log(
    change: PolicyChange,
    kind: str,
    summary: str,
    now: datetime,
    *,
    severity: str | None = None,
    **evidence: Any,
) -> None:
    timeline.record(
        tenant_id=change.tenant_id,
        domain_id=change.domain_id,
        kind=kind,
        stage=change.from_stage,
        summary=summary,
        evidence={"kind": change.kind, "to_stage": change.to_stage, **evidence},
        at=now,
        change=change,
        severity=severity,
    )


def _close(change: PolicyChange, status: ChangeStatus, now: datetime) -> None:
    change.status = status.value
    change.closed_at = now


def open_for(
    domain: Domain, facts: DomainFacts, evaluation: Evaluation, now: datetime, *, by: str
) -> PolicyChange:
    """Record the engine's proposal (escalation) or rollback; auto-approve when opted in."""
    if evaluation.target is None:
        raise Conflict("nothing to propose")
    try:
        check_transition(facts.stage, evaluation.target)
    except StageError as exc:
        raise Conflict(str(exc)) from exc
    rollback = evaluation.action is Action.ROLLBACK
    current = open_change(domain, lock=True)
    if current is not None and not rollback:
        raise Conflict(f"change {current.id} is already open for {domain.name}")
    if current is not None:
        _close(current, ChangeStatus.SUPERSEDED, now)
        _log(current, "superseded", "superseded by a rollback", now)
        db.session.flush()
    staged = records_for_stage(domain.name, evaluation.target, facts.records)
    change = PolicyChange(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        kind=(ChangeKind.ROLLBACK if rollback else ChangeKind.ESCALATE).value,
        from_stage=facts.stage.value,
        to_stage=evaluation.target.value,
        status=ChangeStatus.PROPOSED.value,
        auto=evaluation.auto,
        records=records_view(staged),
        evidence=evaluation_view(evaluation),
        proposed_at=now,
        proposed_by=by,
        reminders=0,
    )
    db.session.add(change)
    db.session.flush()
    kind = "rollback_proposed" if rollback else "proposed"
    summary = f"{change.kind} {change.from_stage} -> {change.to_stage}: " + "; ".join(
        evaluation.reasons
    )
    _log(change, kind, summary, now, reasons=list(evaluation.reasons), records=change.records)
    if evaluation.auto:
        approve(change, facts, now, by="auto-escalation")
    return change


def approve(change: PolicyChange, facts: DomainFacts, now: datetime, *, by: str) -> PolicyChange:
    """Approve a proposed change and schedule it (change window; a rollback at once)."""
    if change.status != ChangeStatus.PROPOSED.value:
        raise Conflict(f"change {change.id} is {change.status}, not proposed")
    change.status = ChangeStatus.APPROVED.value
    change.decided_at, change.decided_by = now, by
    _log(change, "approved", f"approved by {by}", now, by=by)
    step = step_change(pending_of(change), facts, now)
    if step.kind is StepKind.SCHEDULE and step.at is not None:
        _schedule(change, step.at, now, by=by)
    audit("policy.approve", "policy_change", change.id, tenant_id=change.tenant_id)
    return change


def _schedule(change: PolicyChange, at: datetime, now: datetime, *, by: str) -> None:
    change.status = ChangeStatus.SCHEDULED.value
    change.scheduled_for = at
    _log(change, "scheduled", f"to be issued at {at.isoformat()}", now, at=at.isoformat(), by=by)
    _ask_to_issue(change, at, now)


def _ask_to_issue(change: PolicyChange, at: datetime, now: datetime) -> None:
    """The issuing job, enqueued for the scheduled time (at once when the window is open), so
    an approval is issued in the same minute, not at the next 15-minute sweep (which remains
    the safety net)."""
    enqueue(
        "workers.policy.advance_change",
        queue=DEFAULT,
        job_id=f"policy-issue-{change.id}-{int(at.timestamp())}",
        at=at if at > now else None,
        change_id=change.id,
    )


def reject(change: PolicyChange, now: datetime, *, by: str, note: str | None) -> PolicyChange:
    if change.status not in DECIDABLE:
        raise Conflict(f"change {change.id} is {change.status} and can no longer be rejected")
    _close(change, ChangeStatus.REJECTED, now)
    change.decided_at, change.decided_by, change.note = now, by, note
    _log(change, "rejected", f"rejected by {by}" + (f": {note}" if note else ""), now, by=by)
    audit(
        "policy.reject",
        "policy_change",
        change.id,
        tenant_id=change.tenant_id,
        changes={"note": note},
    )
    return change


def schedule(change: PolicyChange, at: datetime, now: datetime, *, by: str) -> PolicyChange:
    """Move an approved change to a chosen time (instead of the next change window)."""
    if change.status not in (ChangeStatus.APPROVED.value, ChangeStatus.SCHEDULED.value):
        raise Conflict(f"change {change.id} is {change.status}; approve it first")
    if at < now - timedelta(minutes=1):
        raise ValidationFailed("the time is in the past", errors={"at": ["in the past"]})
    _schedule(change, at, now, by=by)
    audit(
        "policy.schedule",
        "policy_change",
        change.id,
        tenant_id=change.tenant_id,
        changes={"at": at.isoformat()},
    )
    return change


def withdraw(
    change: PolicyChange, reasons: tuple[str, ...], now: datetime, facts: DomainFacts
) -> None:
    """Close an escalation that is no longer ready. If its record was already issued, the
    event tells the customer not to publish it and which records to keep."""
    issued = change.status == ChangeStatus.PUBLISHED.value
    _close(change, ChangeStatus.WITHDRAWN, now)
    if not issued:
        _log(
            change,
            "withdrawn",
            "no longer ready: " + "; ".join(reasons),
            now,
            reasons=list(reasons),
        )
        return
    keep = records_view(records_for_stage(facts.name, facts.stage, facts.records))
    _log(
        change,
        "withdrawn",
        "do not publish the issued record; keep the current one: " + "; ".join(reasons),
        now,
        reasons=list(reasons),
        keep_records=keep,
        severity="warning",
    )


def _publish(change: PolicyChange, facts: DomainFacts, now: datetime) -> str:
    if change.kind == ChangeKind.ESCALATE.value:
        recheck = evaluate(facts, now)  # the evidence may have changed since the approval
        if recheck.action in {Action.WITHDRAW, Action.ROLLBACK}:
            withdraw(change, recheck.reasons, now, facts)
            return "withdrawn"
    change.status = ChangeStatus.PUBLISHED.value
    change.published_at = now
    lines = [r["zone_line"] for r in change.records]
    _log(change, "published", "publish: " + " | ".join(lines), now, records=change.records)
    _ask_for_dns_check(change.domain_id, now)
    # A domain with a DNS provider (msp.publishing) has the record written now, not at the
    # publisher's next sweep; the job does nothing for domains published by hand.
    enqueue(
        "workers.publishing.publish_change",
        queue=DEFAULT,
        job_id=f"publish-change-{change.id}",
        change_id=change.id,
    )
    return "published"


def _ask_for_dns_check(domain_id: int, now: datetime) -> None:
    """Verification follows publication: a DNS check right away (an automatic publisher may
    already have written the record) and another an hour later (a person publishing by hand)."""
    enqueue(
        "workers.dns.check_domain",
        queue=CHECKS,
        job_id=check_job_id(domain_id),
        domain_id=domain_id,
    )
    enqueue(
        "workers.dns.check_domain",
        queue=CHECKS,
        job_id=f"{check_job_id(domain_id)}-verify-{int(now.timestamp())}",
        at=now + timedelta(hours=1),
        domain_id=domain_id,
    )


def _verify(change: PolicyChange, plan: PolicyPlan, now: datetime) -> str:
    plan.stage, plan.stage_since = change.to_stage, now
    change.verified_at = now
    _close(change, ChangeStatus.VERIFIED, now)
    _log(change, "verified", f"published record verified: now {change.to_stage}", now)
    return "verified"


def _remind(change: PolicyChange, reasons: tuple[str, ...], now: datetime) -> str:
    change.last_reminded_at = now
    change.reminders += 1
    _log(
        change,
        "reminder",
        "record not published yet: " + "; ".join(reasons),
        now,
        reasons=list(reasons),
        records=change.records,
        reminders=change.reminders,
    )
    return "reminder"


def advance(change: PolicyChange, plan: PolicyPlan, facts: DomainFacts, now: datetime) -> str:
    """Make the change's next timed move, if due. Returns what happened (or ``wait``)."""
    step = step_change(pending_of(change), facts, now)
    if step.kind is StepKind.SCHEDULE and step.at is not None:
        _schedule(change, step.at, now, by="engine")
        return "scheduled"
    if step.kind is StepKind.PUBLISH:
        return _publish(change, facts, now)
    if step.kind is StepKind.VERIFY:
        return _verify(change, plan, now)
    if step.kind is StepKind.REMIND:
        return _remind(change, step.reasons, now)
    return "wait"


def due_change_ids(now: datetime) -> list[int]:
    """Open changes with a timed move possibly due (every tenant: for the sweep)."""
    stmt = select(PolicyChange.id).where(
        or_(
            PolicyChange.status.in_((ChangeStatus.APPROVED.value, ChangeStatus.PUBLISHED.value)),
            and_(
                PolicyChange.status == ChangeStatus.SCHEDULED.value,
                PolicyChange.scheduled_for <= now,
            ),
        )
    )
    return list(db.session.scalars(stmt.order_by(PolicyChange.id)))
