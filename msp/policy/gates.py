"""The gates between two stages: each reads the facts and says passed or blocked, and why.

A gate is a pure function ``(facts, now) -> GateResult``. :func:`gates_for` picks the gates a
step needs: a DNS check to start monitoring, that and "no legitimate mail" for the parked fast
path, all of the evidence gates for every other step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from msp.policy.facts import (
    ChangeStatus,
    DomainFacts,
    KnownSender,
    PostureFacts,
    SenderFacts,
    SenderStatus,
)
from msp.policy.records import RecordOptions, dmarc_for_stage, record_mismatches
from msp.policy.stages import Stage

SPF_LOOKUP_LIMIT = 10  # RFC 7208 §4.6.4


class GateStatus(StrEnum):
    """``UNKNOWN``: the gate needs a record the last DNS check could not read. It is not
    passed (nothing is proposed blind) and not failing (nothing is withdrawn or reminded)."""

    PASSED = "passed"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict; ``reasons`` are human sentences, ``evidence`` the figures."""

    gate: str
    status: GateStatus
    reasons: tuple[str, ...] = ()
    evidence: tuple[tuple[str, int | float | str], ...] = ()

    @property
    def passed(self) -> bool:
        return self.status is GateStatus.PASSED

    @property
    def blocked(self) -> bool:
        return self.status is GateStatus.BLOCKED


Gate = Callable[[DomainFacts, datetime], GateResult]


def _verdict(gate: str, reasons: Iterable[str], **evidence: int | float | str) -> GateResult:
    reasons = tuple(reasons)
    status = GateStatus.BLOCKED if reasons else GateStatus.PASSED
    return GateResult(gate, status, reasons, tuple(sorted(evidence.items())))


def unreachable_reason(records: Iterable[str]) -> str:
    names = ", ".join(r.split(":")[-1] if r.startswith("dkim:") else r.upper() for r in records)
    return f"the last DNS check could not reach DNS for {names}: waiting for the next check"


def _unknown(gate: str, records: tuple[str, ...]) -> GateResult:
    return GateResult(gate, GateStatus.UNKNOWN, (unreachable_reason(records),))


def _per_week(messages: int, window_days: int) -> int:
    return round(messages * 7 / max(window_days, 1))


def failure_cause(sender: SenderFacts, domain: str) -> str:
    """The real cause of a sender's failing mail: the mechanism it relies on that broke. A
    sender whose SPF never aligned relies on DKIM, so its failures are a DKIM break (which
    selector, which signing domain, since when), never "fail SPF alignment"."""
    if sender.spf_aligned_pass == 0 and (sender.dkim_aligned_pass > 0 or sender.dkim_broken_since):
        selectors = (
            f"selector {', '.join(sender.dkim_selectors)}"
            if sender.dkim_selectors
            else "selector not reported"
        )
        since = (
            f", since {sender.dkim_broken_since.isoformat()}" if sender.dkim_broken_since else ""
        )
        return f"DKIM broke ({selectors}, d={domain}{since}; SPF never aligned)"
    if sender.spf_aligned_pass > 0 and sender.dkim_aligned_pass == 0:
        return "SPF alignment broke (it sends no aligned DKIM signature)"
    if sender.spf_aligned_pass == 0 and sender.dkim_aligned_pass == 0:
        return "fail SPF and DKIM alignment"
    return "fail SPF and DKIM alignment on part of its mail"


def soak(facts: DomainFacts, now: datetime) -> GateResult:
    """Minimum time in the current stage."""
    needed = facts.settings.soak_for(facts.stage)
    days = (now - facts.stage_since).days
    reasons = [f"{days} of {needed} days in {facts.stage.value}"] if days < needed else []
    return _verdict("soak", reasons, days=days, needed=needed)


def coverage(facts: DomainFacts, now: datetime) -> GateResult:
    """Reports from enough receivers on enough days."""
    cov, cfg = facts.coverage, facts.settings
    reasons = []
    if cov.reporters < cfg.min_reporters:
        reasons.append(f"reports from {cov.reporters} receivers, {cfg.min_reporters} needed")
    if cov.days_with_reports < cfg.min_report_days:
        reasons.append(
            f"reports on {cov.days_with_reports} of the last {cfg.window_days} days, "
            f"{cfg.min_report_days} needed"
        )
    return _verdict("coverage", reasons, reporters=cov.reporters, days=cov.days_with_reports)


def _approved(senders: Iterable[SenderFacts]) -> list[SenderFacts]:
    return [s for s in senders if s.status is SenderStatus.APPROVED]


def aligned_share(facts: DomainFacts, now: datetime) -> GateResult:
    """DMARC-pass share of the legitimate (approved) volume."""
    approved = _approved(facts.senders)
    total = sum(s.messages for s in approved)
    passing = sum(s.dmarc_pass for s in approved)
    needed = facts.settings.min_aligned_share
    if total == 0:
        return _verdict(
            "aligned_share",
            ["no mail from approved senders in the window: approve senders, or park the domain"],
            messages=0,
        )
    share = passing / total
    reasons = []
    if share < needed:
        reasons.append(f"{share:.1%} of approved mail passes DMARC, {needed:.1%} needed")
    return _verdict("aligned_share", reasons, share=round(share, 4), messages=total)


def senders(facts: DomainFacts, now: datetime) -> GateResult:
    """Every sender above the volume threshold is approved and aligned, or forwarder/abuse."""
    cfg, reasons = facts.settings, []
    for sender in sorted(facts.senders, key=lambda s: -s.messages):
        if sender.messages < cfg.sender_volume_threshold or sender.forwarded:
            continue
        week = f"{_per_week(sender.messages, cfg.window_days):,} messages/week from {sender.name}"
        if sender.status is SenderStatus.UNKNOWN:
            reasons.append(f"{week} (unclassified sender, {sender.pass_share:.0%} pass DMARC)")
        elif (
            sender.status is SenderStatus.APPROVED and sender.pass_share < cfg.sender_min_pass_share
        ):
            failing = _per_week(sender.failing, cfg.window_days)
            cause = failure_cause(sender, facts.name)
            reasons.append(f"{failing:,} messages/week from {sender.name}: {cause}")
    return _verdict("senders", reasons, blocking=len(reasons))


def new_senders(facts: DomainFacts, now: datetime) -> GateResult:
    """No new unknown sender in the last N days."""
    cfg = facts.settings
    since = now.date().toordinal() - cfg.new_sender_quiet_days
    fresh = [
        s
        for s in facts.senders
        if s.status is SenderStatus.UNKNOWN
        and not s.forwarded
        and s.first_seen.toordinal() > since
        and s.messages >= cfg.new_sender_min_messages
    ]
    reasons = [
        f"new unknown sender {s.name} first seen {s.first_seen.isoformat()} "
        f"({s.messages:,} messages)"
        for s in fresh
    ]
    return _verdict("new_senders", reasons, new=len(fresh))


def _quiet_risk(known: KnownSender, facts: DomainFacts) -> bool:
    """A remembered sender enforcement would hurt on its next run, which the window misses."""
    cfg = facts.settings
    if known.status not in (SenderStatus.UNKNOWN, SenderStatus.APPROVED) or known.forwarded:
        return False  # marked forwarder or abuse, or forwarded mail by its evidence
    if known.pass_share >= cfg.sender_min_pass_share:
        return False
    if known.typical_volume < cfg.sender_volume_threshold:
        return False  # low-volume noise
    window = next((s for s in facts.senders if s.key == known.key), None)
    # a sender busy in the window is judged there (senders, dkim), unless its window mail
    # passes while its runs before did not (it may fail again on the next run)
    return window is None or window.messages < cfg.sender_volume_threshold


def quiet_senders(facts: DomainFacts, now: datetime) -> GateResult:
    """No remembered sender that fails DMARC and sends enough on a day it sends, even if it is
    quiet in the window: an unclassified one blocks until approved and aligned, marked, or
    unseen for the memory horizon; an approved one until it passes (a monthly payroll run
    must not be quarantined on its next run)."""
    cfg = facts.settings
    reasons = []
    for known in sorted(facts.known_senders, key=lambda k: (-k.messages, k.key)):
        if not _quiet_risk(known, facts):
            continue
        what = (
            f"{known.rhythm()}, last on {known.last_seen.isoformat()}, "
            f"{known.pass_share:.0%} pass DMARC"
        )
        if known.status is SenderStatus.APPROVED:
            reasons.append(f"{known.name} (approved) sends rarely ({what}): align it")
            continue
        until = known.last_seen + timedelta(days=cfg.sender_horizon_days)
        reasons.append(
            f"{known.name} sends rarely ({what}): approve and align it or mark it; otherwise "
            f"it blocks until {until.isoformat()}"
        )
    return _verdict("quiet_senders", reasons, blocking=len(reasons))


def spf(facts: DomainFacts, now: datetime) -> GateResult:
    """SPF valid and within its DNS lookup limit."""
    posture = facts.posture
    if posture is None:
        return _verdict("spf", ["no DNS check yet"])
    if posture.unknown("spf"):
        return _unknown("spf", ("spf",))
    reasons = []
    if posture.spf_valid is not True:
        reasons.append("SPF record is missing or invalid")
    lookups = posture.spf_dns_lookups or 0
    if lookups > SPF_LOOKUP_LIMIT:
        reasons.append(f"SPF needs {lookups} DNS lookups, the limit is {SPF_LOOKUP_LIMIT}")
    return _verdict("spf", reasons, lookups=lookups)


def dkim(facts: DomainFacts, now: datetime) -> GateResult:
    """Every approved sender above the threshold signs with a published, valid DKIM key."""
    posture = facts.posture
    keys = posture.dkim_selectors if posture else {}
    reasons: list[str] = []
    unread: list[str] = []
    for sender in _approved(facts.senders):
        if sender.messages < facts.settings.sender_volume_threshold:
            continue
        if not sender.dkim_selectors or sender.dkim_aligned_pass == 0:
            reasons.append(f"{sender.name} sends no aligned DKIM signature")
            continue
        selectors = [f"dkim:{sel}" for sel in sender.dkim_selectors]
        unread += posture.unknown(*selectors) if posture else ()
        bad = [
            sel
            for sel in sender.dkim_selectors
            if sel in keys and keys[sel] is not True and f"dkim:{sel}" not in unread
        ]
        if bad:
            reasons.append(f"{sender.name}: DKIM selector {', '.join(bad)} has no valid key")
    if not reasons and unread:
        return _unknown("dkim", tuple(dict.fromkeys(unread)))
    return _verdict("dkim", reasons, blocking=len(reasons))


PARKED_SPF = "v=spf1 -all"


def unread_for(posture: PostureFacts | None, stage: Stage) -> tuple[str, ...]:
    """The records ``stage`` is judged on that the last check could not read."""
    if posture is None:
        return ()
    if stage is Stage.PARKED:
        return posture.unknown("dmarc", "spf", "mx")
    return posture.unknown("dmarc")


def issued_is_live(facts: DomainFacts) -> bool:
    """The record this plan issued (a published change) is what DNS shows now."""
    pending = facts.pending
    if pending is None or pending.status is not ChangeStatus.PUBLISHED:
        return False
    return not published_mismatches(facts.posture, pending.to_stage, facts.records)


def published_mismatches(
    posture: PostureFacts | None, stage: Stage, options: RecordOptions
) -> list[str]:
    """Why what is published does not enforce ``stage``; empty when it does. The parked fast
    path also needs ``v=spf1 -all`` and a null MX (RFC 7505)."""
    if posture is None:
        return ["no DNS check yet"]
    mismatches = record_mismatches(dmarc_for_stage(stage, options), posture.dmarc_tags)
    if stage is Stage.PARKED:
        spf_text = " ".join((posture.spf_record or "").lower().split())
        if spf_text != PARKED_SPF:
            mismatches.append(f"SPF is {posture.spf_record or '(absent)'}, not {PARKED_SPF}")
        if posture.null_mx is not True:
            mismatches.append("no null MX (MX 0 .)")
    return mismatches


def record(facts: DomainFacts, now: datetime) -> GateResult:
    """The published records are the ones the plan says the current stage has."""
    if facts.stage is Stage.NONE:
        return _verdict("record", [])
    unread = unread_for(facts.posture, facts.stage)
    if unread:
        return _unknown("record", unread)
    mismatches = published_mismatches(facts.posture, facts.stage, facts.records)
    return _verdict("record", [f"published record: {m}" for m in mismatches])


def dns_checked(facts: DomainFacts, now: datetime) -> GateResult:
    """The domain has been checked, and a plan without a record really has none published
    (otherwise the service adopts the published stage first: never propose a downgrade)."""
    if facts.posture is None:
        return _verdict("dns_checked", ["no DNS check yet"])
    if facts.posture.unknown("dmarc"):
        return _unknown("dns_checked", ("dmarc",))
    if facts.stage is Stage.NONE and facts.posture.dmarc_tags:
        if issued_is_live(facts):
            return _verdict("dns_checked", [], issued="live")
        return _verdict("dns_checked", ["a DMARC record is already published"])
    return _verdict("dns_checked", [])


def no_legitimate_mail(facts: DomainFacts, now: datetime) -> GateResult:
    """A parked domain sends nothing: no approved sender in the window."""
    approved = [s for s in _approved(facts.senders) if s.messages > 0]
    reasons = [f"{s.name} sent {s.messages:,} approved messages" for s in approved]
    return _verdict("no_legitimate_mail", reasons, senders=len(approved))


EVIDENCE_GATES: tuple[Gate, ...] = (
    soak,
    coverage,
    aligned_share,
    senders,
    quiet_senders,
    new_senders,
    spf,
    dkim,
    record,
)


def gates_for(current: Stage, target: Stage) -> tuple[Gate, ...]:
    """The gates the step ``current -> target`` must pass."""
    if target is Stage.MONITOR and current is Stage.NONE:
        return (dns_checked,)
    if target is Stage.PARKED:
        return (dns_checked, no_legitimate_mail)
    return EVIDENCE_GATES


def run_gates(facts: DomainFacts, target: Stage, now: datetime) -> tuple[GateResult, ...]:
    return tuple(gate(facts, now) for gate in gates_for(facts.stage, target))


def dmarc_published(facts: DomainFacts, now: datetime) -> GateResult:
    """A DMARC record is published (scored by readiness before the plan has a stage)."""
    posture = facts.posture
    if posture is None:
        return _verdict("record", ["no DNS check yet"])
    if posture.unknown("dmarc"):
        return _unknown("record", ("dmarc",))
    return _verdict("record", [] if posture.dmarc_tags else ["no DMARC record is published"])


SENDER_GATES: tuple[Gate, ...] = (aligned_share, senders, quiet_senders, new_senders, dkim)


def readiness_gates(facts: DomainFacts, target: Stage, now: datetime) -> tuple[GateResult, ...]:
    """What readiness is scored on: () means the step's own gates. Before a record is published
    the one gate to monitoring would read 100 beside a domain with no SPF and no DMARC, so
    readiness there scores the evidence enforcement needs; gates about senders count as
    blocked while no report has arrived (nothing known is not "no problem")."""
    if facts.stage is not Stage.NONE or target is Stage.PARKED:
        return ()
    results = [coverage(facts, now), spf(facts, now), dmarc_published(facts, now)]
    for gate in SENDER_GATES:
        result = gate(facts, now)
        if facts.coverage.messages == 0 and result.passed:
            result = _verdict(result.gate, ["no reports yet"])
        results.append(result)
    return tuple(results)
