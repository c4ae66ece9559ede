"""The policy engine: facts and the time in, decisions out. Pure: no I/O, no clock, no DB.

:func:`evaluate` decides what a domain needs today (propose the next stage, withdraw a
proposal that is no longer ready, propose a rollback, or hold) and says why, gate by gate.
:func:`step_change` moves an open change along (schedule, publish, verify, remind).
Escalations are issued in the tenant's change window; an approved rollback is issued at once,
since relaxing the policy cannot lose mail and waiting for the window would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from msp.policy.drift import Drift, drift
from msp.policy.facts import (
    OPEN_STATUSES,
    ChangeKind,
    ChangeStatus,
    DomainFacts,
    PendingChange,
    SenderFacts,
    SenderStatus,
)
from msp.policy.forwarding import ForwardedMail
from msp.policy.gates import (
    GateResult,
    GateStatus,
    issued_is_live,
    published_mismatches,
    readiness_gates,
    run_gates,
    unreachable_reason,
    unread_for,
)
from msp.policy.records import StageRecords, records_for_stage
from msp.policy.stages import Stage, is_enforcing, next_stage, rollback_target
from msp.policy.window import next_window_start


class Action(StrEnum):
    HOLD = "hold"
    PROPOSE = "propose"
    WITHDRAW = "withdraw"
    ROLLBACK = "rollback"


@dataclass(frozen=True)
class Evaluation:
    """The engine's verdict on one domain at one time."""

    stage: Stage
    records: StageRecords | None
    next_stage: Stage | None
    next_records: StageRecords | None
    gates: tuple[GateResult, ...]
    readiness: int
    action: Action
    target: Stage | None
    auto: bool
    reasons: tuple[str, ...]
    unreachable: tuple[str, ...] = ()  # records the last DNS check could not read
    forwarded: ForwardedMail | None = None  # forwarded and list mail, as one line
    drift: Drift | None = None  # the published record is not the stage's

    @property
    def ready(self) -> bool:
        return self.next_stage is not None and all(g.passed for g in self.gates)


class StepKind(StrEnum):
    WAIT = "wait"
    SCHEDULE = "schedule"
    PUBLISH = "publish"
    VERIFY = "verify"
    REMIND = "remind"


@dataclass(frozen=True)
class ChangeStep:
    """What to do next with an open change; ``at`` is the schedule time for SCHEDULE."""

    kind: StepKind
    at: datetime | None = None
    reasons: tuple[str, ...] = ()


def readiness(gates: tuple[GateResult, ...], next_stage: Stage | None) -> int:
    """Share of passed gates, 0-100; 100 at the end of the road. A gate waiting on a record
    the last DNS check could not read counts neither way (an outage changes nothing)."""
    if next_stage is None:
        return 100
    known = [g for g in gates if g.status is not GateStatus.UNKNOWN]
    if not known:
        return 0
    return round(100 * sum(g.passed for g in known) / len(known))


def _rollback_minimum(facts: DomainFacts) -> int:
    cfg = facts.settings
    scaled = cfg.sender_volume_threshold * cfg.rollback_window_days / max(cfg.window_days, 1)
    return max(cfg.new_sender_min_messages, round(scaled))


def _broken(sender: SenderFacts, facts: DomainFacts, minimum: int) -> bool:
    return (
        sender.messages >= minimum and sender.pass_share < facts.settings.rollback_sender_pass_share
    )


def _parked_but_sending(facts: DomainFacts, minimum: int) -> tuple[str, ...]:
    days = facts.settings.rollback_window_days
    return tuple(
        f"parked domain sends approved mail: {s.name}, {s.messages:,} messages in the last "
        f"{days} days (remove v=spf1 -all and the null MX, and unpark the domain)"
        for s in facts.recent_senders
        if s.status is SenderStatus.APPROVED and s.messages >= minimum
    )


def legitimate_before(sender: SenderFacts, facts: DomainFacts) -> bool:
    """Whether ``sender`` was legitimate before the rollback window: approved, or not marked
    forwarder/abuse and passing DMARC on the mail it sent earlier in the memory horizon (an
    unclassified but aligned service is legitimate too)."""
    if sender.status is SenderStatus.APPROVED:
        return True
    if sender.status is not SenderStatus.UNKNOWN:
        return False
    known = next((k for k in facts.known_senders if k.key == sender.key), None)
    if known is None:
        return False
    earlier = known.messages - sender.messages
    passed = known.dmarc_pass - sender.dmarc_pass
    cfg = facts.settings
    return earlier >= cfg.new_sender_min_messages and passed >= earlier * cfg.sender_min_pass_share


def rollback_evidence(facts: DomainFacts) -> tuple[str, ...]:
    """Why legitimate mail is failing now (recent window), or () when it is not. Every sender
    that was legitimate before is watched, not only approved ones."""
    if not is_enforcing(facts.stage):
        return ()
    cfg, minimum = facts.settings, _rollback_minimum(facts)
    if facts.stage is Stage.PARKED:
        return _parked_but_sending(facts, minimum)
    watched = [s for s in facts.recent_senders if legitimate_before(s, facts)]
    evidence = [
        f"{s.name}{'' if s.status is SenderStatus.APPROVED else ' (unclassified, passed before)'}"
        f": {s.failing:,} of {s.messages:,} messages failed DMARC "
        f"in the last {cfg.rollback_window_days} days"
        for s in watched
        if _broken(s, facts, minimum)
    ]
    total = sum(s.messages for s in watched)
    share = sum(s.dmarc_pass for s in watched) / total if total else 1.0
    if total >= minimum and share < cfg.rollback_aligned_share:
        evidence.insert(0, f"legitimate mail passing DMARC dropped to {share:.1%}")
    return tuple(evidence)


def _open(pending: PendingChange | None) -> PendingChange | None:
    return pending if pending is not None and pending.status in OPEN_STATUSES else None


def _withdraw_reasons(
    pending: PendingChange, facts: DomainFacts, gates: tuple[GateResult, ...]
) -> tuple[str, ...]:
    """Why an open escalation should be withdrawn, or () to keep it.

    An issued record that is not live yet is withdrawn too (the customer is told not to
    publish it); once it is live, verification moves the stage and the rollback watch takes
    over. The record gate is left out for an issued change: the customer may be mid-way.
    """
    if pending.kind is not ChangeKind.ESCALATE:
        return ()
    issued = pending.status is ChangeStatus.PUBLISHED
    if issued and unread_for(facts.posture, pending.to_stage):
        return ()  # DNS did not answer: what is published is unknown, not wrong
    if issued and not published_mismatches(facts.posture, pending.to_stage, facts.records):
        return ()
    return tuple(
        reason
        for gate in gates
        if gate.blocked and not (issued and gate.gate == "record")
        for reason in gate.reasons
    )


def _pending_status(pending: PendingChange, facts: DomainFacts) -> str:
    """What the open change waits for; an issued record says whether DNS shows it yet."""
    if pending.status is not ChangeStatus.PUBLISHED:
        return f"{pending.kind.value} to {pending.to_stage.value} is {pending.status.value}"
    to = pending.to_stage.value
    if facts.posture is not None and unread_for(facts.posture, pending.to_stage):
        return f"the record issued for {to} is being published; DNS could not be read to see it"
    if issued_is_live(facts):
        return f"the record issued for {to} is live in DNS: the next check verifies it"
    return f"the record issued for {to} is being published: not in DNS yet"


def _decide(
    facts: DomainFacts, target: Stage | None, gates: tuple[GateResult, ...]
) -> tuple[Action, Stage | None, tuple[str, ...]]:
    pending = _open(facts.pending)
    evidence = rollback_evidence(facts)
    if evidence and not (pending and pending.kind is ChangeKind.ROLLBACK):
        back = rollback_target(facts.stage, legacy_pct_ramp=facts.settings.legacy_pct_ramp)
        return Action.ROLLBACK, back, evidence
    if pending is not None:
        withdraw = _withdraw_reasons(pending, facts, gates)
        if withdraw:
            return Action.WITHDRAW, pending.to_stage, withdraw
        return Action.HOLD, pending.to_stage, (_pending_status(pending, facts),)
    blocked = tuple(reason for gate in gates if not gate.passed for reason in gate.reasons)
    if target is None:
        return Action.HOLD, None, ("at the end of the road",)
    if blocked:
        return Action.HOLD, target, blocked
    return Action.PROPOSE, target, (f"every gate to {target.value} passed",)


def forwarded_mail(senders: tuple[SenderFacts, ...]) -> ForwardedMail | None:
    """The window's forwarded sources as one line (kept out of the blocking gates)."""
    found = [s for s in senders if s.forwarded]
    if not found:
        return None
    busiest = sorted(found, key=lambda s: (-s.messages, s.key))
    return ForwardedMail(
        sources=len(found),
        messages=sum(s.messages for s in found),
        failing=sum(s.failing for s in found),
        examples=tuple(s.name for s in busiest[:3]),
    )


def evaluate(facts: DomainFacts, now: datetime) -> Evaluation:
    """Today's verdict for one domain."""
    target = next_stage(facts.stage, parked=facts.parked)
    gates = run_gates(facts, target, now) if target is not None else ()
    action, action_target, reasons = _decide(facts, target, gates)
    unreachable = tuple(sorted(facts.posture.unreachable)) if facts.posture else ()
    if unreachable and action is Action.HOLD:
        reasons = (unreachable_reason(unreachable), *(r for r in reasons if "could not" not in r))
    drifted = drift(facts)
    if drifted is not None and action is Action.HOLD:
        reasons = (*drifted.reasons, *reasons)
    scored = readiness_gates(facts, target, now) if target is not None else ()
    return Evaluation(
        stage=facts.stage,
        records=records_for_stage(facts.name, facts.stage, facts.records),
        next_stage=target,
        next_records=records_for_stage(facts.name, target, facts.records) if target else None,
        gates=gates,
        readiness=readiness(scored or gates, target),
        action=action,
        target=action_target,
        auto=facts.settings.auto_escalate and action in {Action.PROPOSE, Action.ROLLBACK},
        reasons=reasons,
        unreachable=unreachable,
        forwarded=forwarded_mail(facts.senders),
        drift=drifted,
    )


def _verification(change: PendingChange, facts: DomainFacts) -> tuple[bool, tuple[str, ...]]:
    posture = facts.posture
    published = change.published_at
    if posture is None or published is None or posture.checked_at < published:
        return False, ("no DNS check since the record was issued",)
    unread = unread_for(posture, change.to_stage)
    if unread:
        return False, (unreachable_reason(unread),)
    mismatches = published_mismatches(posture, change.to_stage, facts.records)
    return not mismatches, tuple(mismatches)


def step_change(change: PendingChange, facts: DomainFacts, now: datetime) -> ChangeStep:
    """The next move of an open change at ``now``."""
    cfg = facts.settings
    if change.status is ChangeStatus.APPROVED:
        if change.kind is ChangeKind.ROLLBACK:  # a relaxation stops lost mail: no waiting
            return ChangeStep(StepKind.SCHEDULE, now)
        return ChangeStep(
            StepKind.SCHEDULE, next_window_start(now, facts.timezone, cfg.change_window)
        )
    if change.status is ChangeStatus.SCHEDULED:
        due = change.scheduled_for is not None and change.scheduled_for <= now
        return ChangeStep(StepKind.PUBLISH) if due else ChangeStep(StepKind.WAIT)
    if change.status is not ChangeStatus.PUBLISHED or change.published_at is None:
        return ChangeStep(StepKind.WAIT)
    verified, reasons = _verification(change, facts)
    if verified:
        return ChangeStep(StepKind.VERIFY)
    if facts.posture is not None and unread_for(facts.posture, change.to_stage):
        return ChangeStep(StepKind.WAIT, reasons=reasons)  # never "not published" on an outage
    overdue = now >= change.published_at + timedelta(hours=cfg.publish_grace_hours)
    last = change.last_reminded_at
    quiet = last is None or now - last >= timedelta(hours=cfg.reminder_interval_hours)
    return ChangeStep(StepKind.REMIND if overdue and quiet else StepKind.WAIT, reasons=reasons)
