"""Fleet simulation: the pure policy engine driving many synthetic domains for months.

A seeded world generates each domain's daily aggregate rows (approved services, forwarders,
spoofers, low-volume noise, shadow-IT services that appear mid-way and are later approved and
fixed, services misconfigured at onboarding, and known services that break after escalation).
Reports arrive a day late and only while a record with the service's ``rua`` is published.
Every day at 05:00 UTC the engine evaluates each domain; an hourly tick moves open changes
(approval a day later unless the tenant opted into auto-escalation, the tenant's change window,
re-check before issuing, the customer publishing hours or days later, DNS checks every six
hours, verification, reminders).

Losses are counted with the what-if simulator (worst of RFC 9989 and RFC 7489 receivers) on
ground truth: a legitimate message that fails DMARC while an enforcing record is in DNS is
*lost to escalation* when its failure was in the data the engine read before issuing that
record, and *exposed after escalation* when it started later (a break the engine can only
answer with a rollback).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from msp.policy.engine import Action, Evaluation, StepKind, evaluate, step_change
from msp.policy.facts import (
    ChangeKind,
    ChangeStatus,
    CoverageFacts,
    DomainFacts,
    KnownSender,
    PendingChange,
    PostureFacts,
    SenderFacts,
    SenderStatus,
)
from msp.policy.history import known_senders
from msp.policy.records import RecordOptions, dmarc_for_stage
from msp.policy.simulate import DailyRow, apply_policy, parse_proposal
from msp.policy.stages import Stage, rank

from .fleet_world import (
    CARELESS,
    CHECK_HOURS,
    EVAL_HOUR,
    RUA,
    START,
    WorldDomain,
    build_adopted,
    build_domain,
)

FORWARD_SIGNS = ("own DKIM signature present but failing",)


@dataclass
class FleetReport:
    domains: int
    days: int
    days_to_reject: list[int]
    parked_days: list[int]
    not_at_reject: list[str]
    lost_to_escalation: int = 0
    exposed_after_escalation: int = 0
    forwarded_failing_enforced: int = 0
    unsafe_issues: int = 0
    held_while_ready: int = 0
    proposals: int = 0
    withdrawals: int = 0
    issued_then_withdrawn: int = 0
    rollbacks: int = 0
    reminders: int = 0
    forwarded_sources: int = 0  # list subscribers seen by the engine (one line, not blocking)
    blocked_by_forwarded: int = 0  # evaluations held back by a forwarded source (must be 0)
    outage_checks: int = 0
    outage_with_open_change: int = 0
    outage_harm: int = 0  # withdrawals, reminders or stage moves during an outage (must be 0)
    adopted_flagged: int = 0  # evaluations of adopted-blind domains that flag the drift
    adopted_evaluations: int = 0
    breaks: list[tuple[str, int, int | None]] = field(default_factory=list)

    @property
    def median_days_to_reject(self) -> float:
        return statistics.median(self.days_to_reject)

    def summary(self) -> str:
        return (
            f"fleet: {self.domains} domains, {self.days} days; "
            f"reached p=reject: {len(self.days_to_reject)} "
            f"(median {self.median_days_to_reject:.1f} days), parked fast path: "
            f"{len(self.parked_days)} (median {statistics.median(self.parked_days):.1f} days), "
            f"not at p=reject: {len(self.not_at_reject)}; "
            f"legitimate messages lost to escalation: {self.lost_to_escalation}; "
            f"exposed to breaks after escalation: {self.exposed_after_escalation}; "
            f"proposals {self.proposals}, withdrawn {self.withdrawals} "
            f"({self.issued_then_withdrawn} after issue), "
            f"rollbacks {self.rollbacks}, reminders {self.reminders}; "
            f"forwarded sources {self.forwarded_sources} (blocking {self.blocked_by_forwarded}); "
            f"DNS outage checks {self.outage_checks} ({self.outage_with_open_change} with a "
            f"change open, harm {self.outage_harm}); adopted at reject without reports flagged "
            f"{self.adopted_flagged} of {self.adopted_evaluations} evaluations"
        )


class Fleet:
    """Runs the world and the engine side by side and keeps the score."""

    def __init__(
        self,
        domains: int = 60,
        days: int = 120,
        seed: int = 5,
        *,
        careless: bool = False,
        forgetful: bool = False,
    ) -> None:
        rng = random.Random(seed)
        self.rng = rng
        self.days = days
        self.domains = [build_domain(i, rng) for i in range(domains)]
        self.adopted = [build_adopted(domains + i, rng) for i in range(3)]
        for dom in self.domains if careless else ():
            dom.settings = replace(dom.settings, **CARELESS)  # type: ignore[arg-type]
        for dom in self.domains if forgetful else ():  # senders remembered for the window only
            dom.settings = replace(dom.settings, sender_horizon_days=dom.settings.window_days)
        self.report = FleetReport(domains, days, [], [], [])

    # --- the world ------------------------------------------------------------------------
    def _generate_rows(self, dom: WorldDomain, day: int) -> None:
        if not dom.dns or RUA[0] not in dom.dns.get("rua", ""):
            return  # no record with our rua: no reports
        reporters = sum(self.rng.random() < 0.85 for _ in range(dom.receivers))
        if reporters == 0:
            return
        dom.report_days[day] = reporters
        rows = []
        for sender in dom.senders:
            if not sender.sends_on(day):
                continue
            count = max(1, round(sender.daily * self.rng.uniform(0.7, 1.3)))
            failing = (
                count if sender.failing_since(day) is not None else round(count * sender.fail_share)
            )
            for aligned, n in ((True, count - failing), (False, failing)):
                if n:
                    rows.append(
                        DailyRow(
                            _day(day),
                            sender.key,
                            sender.status_on(day),
                            dom.name,
                            "none",
                            aligned,
                            aligned,
                            n,
                            sender.key,
                        )
                    )
        dom.rows[day] = rows

    def _check_dns(self, dom: WorldDomain, now: datetime, day: int) -> None:
        if day in dom.outage_days:  # the name servers time out: every record unknown
            self.report.outage_checks += 1
            self.report.outage_with_open_change += dom.pending is not None
            dom.posture = PostureFacts(
                checked_at=now,
                dmarc_tags=None,
                spf_valid=None,
                spf_dns_lookups=None,
                unreachable=frozenset({"spf", "dmarc", "mx"}),
            )
            return
        parked = dom.parked_published
        dom.posture = PostureFacts(
            checked_at=now,
            dmarc_tags=dict(dom.dns) if dom.dns else None,
            spf_valid=True,
            spf_dns_lookups=0 if parked else 5,
            spf_record="v=spf1 -all" if parked else "v=spf1 include:_spf.esp.test ~all",
            null_mx=parked,
        )

    # --- facts ----------------------------------------------------------------------------
    def _senders(self, dom: WorldDomain, first: int, today: int) -> tuple[SenderFacts, ...]:
        totals: dict[str, list[int]] = {}
        for day in range(max(first, 0), today):
            for row in dom.rows.get(day, ()):
                entry = totals.setdefault(row.sender_key, [0, 0, day])
                entry[0] += row.count
                entry[1] += row.count if row.spf_aligned else 0
                entry[2] = day
        by_key = {s.key: s for s in dom.senders}
        return tuple(
            SenderFacts(
                key=key,
                name=key,
                status=by_key[key].status_on(today),
                messages=m,
                dmarc_pass=p,
                spf_aligned_pass=p,
                dkim_aligned_pass=p,
                first_seen=_day(by_key[key].appear),
                last_seen=_day(last),
                dkim_selectors=("s1",),
                forwarding=FORWARD_SIGNS if by_key[key].forwarded else (),
            )
            for key, (m, p, last) in sorted(totals.items())
        )

    def _known(self, dom: WorldDomain, day: int) -> tuple[KnownSender, ...]:
        first = day - dom.settings.sender_horizon_days
        rows = [r for d in range(max(first, 0), day) for r in dom.rows.get(d, ())]
        return known_senders(self._senders(dom, first, day), rows)

    def _facts(self, dom: WorldDomain, day: int) -> DomainFacts:
        cfg = dom.settings
        window = [d for d in range(day - cfg.window_days, day) if d in dom.report_days]
        return DomainFacts(
            name=dom.name,
            stage=dom.stage,
            stage_since=dom.stage_since,
            parked=dom.parked,
            senders=self._senders(dom, day - cfg.window_days, day),
            recent_senders=self._senders(dom, day - cfg.rollback_window_days, day),
            coverage=CoverageFacts(
                reporters=max((dom.report_days[d] for d in window), default=0),
                days_with_reports=len(window),
                messages=sum(r.count for d in window for r in dom.rows.get(d, ())),
            ),
            posture=dom.posture,
            records=_options(dom),
            settings=cfg,
            pending=dom.pending,
            timezone=dom.timezone,
            known_senders=self._known(dom, day),
        )

    # --- the engine and the people around it ------------------------------------------------
    def _evaluate(self, dom: WorldDomain, day: int, now: datetime) -> None:
        dom.facts = self._facts(dom, day)
        result = evaluate(dom.facts, now)
        self._score_judgement(dom, day, result)
        open_change = dom.pending is not None
        if result.ready and not open_change and result.action is not Action.PROPOSE:
            self.report.held_while_ready += 1
        if result.action is Action.WITHDRAW:
            self.report.withdrawals += 1
            if dom.pending is not None and dom.pending.status is ChangeStatus.PUBLISHED:
                self._keep_current(dom, now)  # the customer is told not to publish it
            dom.pending = None
        elif result.action in {Action.PROPOSE, Action.ROLLBACK} and result.target is not None:
            kind = ChangeKind.ROLLBACK if result.action is Action.ROLLBACK else ChangeKind.ESCALATE
            if kind is ChangeKind.ROLLBACK:
                self.report.rollbacks += 1
                dom.rollback_days.append(day)
            else:
                self.report.proposals += 1
            status = ChangeStatus.APPROVED if result.auto else ChangeStatus.PROPOSED
            dom.pending = PendingChange(kind, dom.stage, result.target, status, now)
            dom.approve_at = now + timedelta(days=1)

    def _score_judgement(self, dom: WorldDomain, day: int, result: Evaluation) -> None:
        if result.forwarded is not None:
            self.report.forwarded_sources = max(
                self.report.forwarded_sources, result.forwarded.sources
            )
        if any("list-sub" in r for r in result.reasons):
            self.report.blocked_by_forwarded += 1
        if _blind(dom) and result.action is Action.WITHDRAW:
            self.report.outage_harm += 1
        if dom.adopted_blind:
            self.report.adopted_evaluations += 1
            self.report.adopted_flagged += result.drift is not None

    def _step(self, dom: WorldDomain, day: int, now: datetime) -> None:
        change = dom.pending
        if change is None or dom.facts is None:
            return
        if change.status is ChangeStatus.PROPOSED and dom.approve_at and now >= dom.approve_at:
            change = dom.pending = replace(change, status=ChangeStatus.APPROVED)
        facts = replace(dom.facts, posture=dom.posture, pending=change)
        step = step_change(change, facts, now)
        if step.kind is StepKind.SCHEDULE:
            dom.pending = replace(change, status=ChangeStatus.SCHEDULED, scheduled_for=step.at)
        elif step.kind is StepKind.PUBLISH:
            self._issue(dom, change, facts, day, now)
        elif step.kind is StepKind.VERIFY:
            self.report.outage_harm += _blind(dom)
            self._verified(dom, change, day, now)
        elif step.kind is StepKind.REMIND:
            self.report.outage_harm += _blind(dom)
            self.report.reminders += 1
            dom.pending = replace(change, last_reminded_at=now)

    def _issue(
        self, dom: WorldDomain, change: PendingChange, facts: DomainFacts, day: int, now: datetime
    ) -> None:
        if change.kind is ChangeKind.ESCALATE:
            # the service re-checks the gates on the reports in at issue time: a day's reports
            # are in from 05:00 UTC the next day
            available = day if now.hour >= EVAL_HOUR else day - 1
            fresh = replace(self._facts(dom, available), posture=dom.posture, pending=change)
            recheck = evaluate(fresh, now)
            if recheck.action in {Action.WITHDRAW, Action.ROLLBACK}:
                self.report.withdrawals += 1
                dom.pending = None
                return
            dom.enforce_check_day = available
            self.report.unsafe_issues += self._would_lose(dom, change.to_stage, available)
        tags = dict(dmarc_for_stage(change.to_stage, _options(dom)).tags())
        due = now + timedelta(hours=dom.publish_delay_hours)
        dom.dns_due = (due, tags, change.to_stage is Stage.PARKED)
        dom.pending = replace(change, status=ChangeStatus.PUBLISHED, published_at=now)

    def _keep_current(self, dom: WorldDomain, now: datetime) -> None:
        """The customer follows a withdrawal: the current stage's record stays (or returns)."""
        self.report.issued_then_withdrawn += 1
        tags = (
            dict(dmarc_for_stage(dom.stage, _options(dom)).tags())
            if dom.stage is not (Stage.NONE)
            else None
        )
        due = now + timedelta(hours=dom.publish_delay_hours)
        dom.dns_due = (due, tags, dom.stage is Stage.PARKED) if tags is not None else None

    def _would_lose(self, dom: WorldDomain, stage: Stage, day: int) -> int:
        """Legitimate messages of the last three days the new record would have affected."""
        policy = parse_proposal(dmarc_for_stage(stage, _options(dom)).text())
        legit = {s.key for s in dom.senders if s.legit}
        lost = 0
        for d in range(day - 3, day):
            for row in dom.rows.get(d, ()):
                if row.sender_key in legit and not row.spf_aligned:
                    lost += max(o.affected for o in apply_policy(policy, policy.p, row.count))
        return lost

    def _verified(self, dom: WorldDomain, change: PendingChange, day: int, now: datetime) -> None:
        dom.stage, dom.stage_since, dom.pending = change.to_stage, now, None
        if dom.stage in {Stage.REJECT, Stage.PARKED} and dom.reject_day is None:
            dom.reject_day = day
        if (
            dom.break_planned
            and dom.broke_at is None
            and rank(dom.stage) >= rank(Stage.QUARANTINE)
            and dom.stage is not Stage.PARKED
        ):
            dom.broke_at = day + 3
            service = next(s for s in dom.senders if s.legit and s.appear == 0 and s.every == 1)
            service.failing.append((day + 3, day + 15))

    # --- the score ------------------------------------------------------------------------
    def _count_losses(self, dom: WorldDomain, day: int, states: Iterable[dict[str, str]]) -> None:
        policies = [parse_proposal("; ".join(f"{k}={v}" for k, v in s.items())) for s in states]
        if not policies:
            return
        by_key = {s.key: s for s in dom.senders}
        for row in dom.rows.get(day, ()):
            if row.spf_aligned:
                continue
            affected = max(
                max(o.affected for o in apply_policy(p, p.p, row.count)) for p in policies
            )
            sender = by_key[row.sender_key]
            if sender.status is SenderStatus.FORWARDER:
                self.report.forwarded_failing_enforced += affected
            if not sender.legit or not affected:
                continue
            since = sender.failing_since(day)
            if since is not None and since <= dom.enforce_check_day - 1:
                self.report.lost_to_escalation += affected
            else:
                self.report.exposed_after_escalation += affected

    def run(self) -> FleetReport:
        for day in range(self.days):
            for dom in self.adopted:
                self._check_dns(dom, START + timedelta(days=day, hours=4), day)
                self._evaluate(dom, day, START + timedelta(days=day, hours=EVAL_HOUR))
            for dom in self.domains:
                states: list[dict[str, str]] = []
                for hour in range(24):
                    now = START + timedelta(days=day, hours=hour)
                    if dom.dns_due and now >= dom.dns_due[0]:
                        _, dom.dns, dom.parked_published = dom.dns_due
                        dom.dns_due = None
                    if dom.dns and dom.dns not in states:
                        states.append(dom.dns)
                    if hour in CHECK_HOURS:
                        self._check_dns(dom, now, day)
                    if hour == EVAL_HOUR:
                        self._evaluate(dom, day, now)
                    self._step(dom, day, now)
                self._generate_rows(dom, day)
                self._count_losses(dom, day, states)
        return self._finish()

    def _finish(self) -> FleetReport:
        for dom in self.domains:
            if dom.reject_day is None:
                self.report.not_at_reject.append(dom.name)
            elif dom.parked:
                self.report.parked_days.append(dom.reject_day)
            else:
                self.report.days_to_reject.append(dom.reject_day)
            if dom.broke_at is not None:
                after = [d for d in dom.rollback_days if d >= dom.broke_at]
                self.report.breaks.append((dom.name, dom.broke_at, min(after, default=None)))
        return self.report


def _blind(dom: WorldDomain) -> bool:
    """The domain's last DNS check could not reach its name servers."""
    return dom.posture is not None and bool(dom.posture.unreachable)


def _day(index: int) -> date:
    return (START + timedelta(days=index)).date()


def _options(dom: WorldDomain) -> RecordOptions:
    return RecordOptions(rua=RUA, ruf=RUA, legacy_pct_ramp=dom.settings.legacy_pct_ramp)


if __name__ == "__main__":
    print(Fleet().run().summary())
    print("calendar-only baseline:", Fleet(careless=True).run().summary())
