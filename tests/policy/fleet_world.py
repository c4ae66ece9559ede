"""The synthetic world of the fleet simulation: domains, their senders and how they behave.

Each domain gets approved services (some misconfigured at onboarding and fixed during
monitoring), a forwarder, spoofers that are classified as abuse a few days after they appear,
low-volume noise, in about half of them a shadow-IT service that appears between days 20
and 70, is approved after triage and fixed later, and in about a third a payroll service
that sends a few hundred unaligned messages every four weeks until approved and fixed; half
have a mailing list whose subscribers' servers re-send their mail (forwarded, DKIM broken).
One in ten domains is parked; one in seven is a complex estate with a 30-day monitoring soak;
one in 25 has a single reporting receiver; one in four has three days of DNS outage; a few
more join at p=reject with their reports going elsewhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from msp.policy.facts import DomainFacts, PendingChange, PostureFacts, SenderStatus
from msp.policy.settings import DEFAULTS, PolicySettings
from msp.policy.simulate import DailyRow
from msp.policy.stages import Stage

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
RUA = ("mailto:r-fleet@reports.msp.test",)
SERVICES = ("google-workspace", "microsoft365", "sendgrid", "mailchimp", "salesforce", "zendesk")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney")
EVAL_HOUR, CHECK_HOURS = 5, (4, 10, 16, 22)


@dataclass
class WorldSender:
    """One source of mail "from" a domain, with its truth and its classification history."""

    key: str
    legit: bool
    status: SenderStatus
    daily: int
    appear: int = 0
    classified: int = 0  # day the MSP's classification (``status``) takes effect
    failing: list[tuple[int, int]] = field(default_factory=list)  # [start, end) day ranges
    fail_share: float = 0.0  # share failing outside ``failing`` (forwarders, spoofers)
    every: int = 1  # sends on one day in ``every`` (a monthly payroll run: 28)
    forwarded: bool = False  # a list subscriber's server re-sending the domain's mail

    def sends_on(self, day: int) -> bool:
        return day >= self.appear and (day - self.appear) % self.every == 0

    def status_on(self, day: int) -> SenderStatus:
        return self.status if day >= self.classified else SenderStatus.UNKNOWN

    def failing_since(self, day: int) -> int | None:
        return next((start for start, end in self.failing if start <= day < end), None)


@dataclass
class WorldDomain:
    name: str
    timezone: str
    auto: bool
    parked: bool
    receivers: int
    publish_delay_hours: int
    senders: list[WorldSender]
    settings: PolicySettings
    break_planned: bool = False
    stage: Stage = Stage.NONE
    stage_since: datetime = START
    pending: PendingChange | None = None
    approve_at: datetime | None = None
    dns: dict[str, str] | None = None
    dns_due: tuple[datetime, dict[str, str], bool] | None = None  # at, DMARC tags, parked
    parked_published: bool = False  # v=spf1 -all and the null MX are in DNS
    posture: PostureFacts | None = None
    facts: DomainFacts | None = None
    enforce_check_day: int = -1
    rows: dict[int, list[DailyRow]] = field(default_factory=dict)
    outage_days: frozenset[int] = frozenset()  # days its name servers do not answer
    adopted_blind: bool = False  # joined at p=reject with no rua to this service
    report_days: dict[int, int] = field(default_factory=dict)  # day -> reporters
    reject_day: int | None = None
    broke_at: int | None = None
    rollback_days: list[int] = field(default_factory=list)


# Calendar-only escalation (the evidence gates switched off): the baseline that shows the
# loss counters can fail.
CARELESS = {
    "min_aligned_share": 0.0,
    "sender_volume_threshold": 10**9,
    "new_sender_min_messages": 10**9,
    "rollback_aligned_share": 0.0,
    "rollback_sender_pass_share": 0.0,
}


def build_domain(index: int, rng: random.Random) -> WorldDomain:
    parked = index % 10 == 9
    complex_estate = index % 7 == 3
    settings = replace(
        DEFAULTS,
        auto_escalate=index % 2 == 0,
        legacy_pct_ramp=index % 5 == 1,
        soak_days={**DEFAULTS.soak_days, Stage.MONITOR: 30 if complex_estate else 14},
    )
    senders = [
        WorldSender(
            f"spoofer-{i}",
            False,
            SenderStatus.ABUSE,
            rng.randint(30, 400),
            appear=rng.randint(0, 110),
            fail_share=1.0,
        )
        for i in range(rng.randint(1, 4))
    ]
    for sender in senders:
        sender.classified = sender.appear + rng.randint(1, 3)
    senders.append(WorldSender("noise", False, SenderStatus.UNKNOWN, 1, fail_share=1.0))
    if not parked:
        senders += _services(rng)
        senders += _list_subscribers(rng)
    outages = frozenset(rng.sample(range(10, 110), 3)) if index % 4 == 1 else frozenset()
    return WorldDomain(
        name=f"d{index:03d}.example.test",
        timezone=ZONES[index % len(ZONES)],
        auto=settings.auto_escalate,
        parked=parked,
        receivers=1 if index % 25 == 7 else rng.randint(2, 5),
        publish_delay_hours=rng.choice((1, 3, 20, 60)),
        senders=senders,
        settings=settings,
        break_planned=not parked and index % 6 == 2,
        outage_days=outages,
    )


def _list_subscribers(rng: random.Random) -> list[WorldSender]:
    """A mailing list's subscribers: many small sources re-sending the domain's mail, each
    new one appearing mid-way, the domain's DKIM broken by the list's footer."""
    if rng.random() < 0.5:
        return []
    return [
        WorldSender(
            f"list-sub-{i}",
            False,
            SenderStatus.UNKNOWN,
            rng.randint(1, 3),
            appear=rng.randint(0, 110),
            fail_share=0.9,
            forwarded=True,
        )
        for i in range(rng.randint(5, 15))
    ]


def build_adopted(index: int, rng: random.Random) -> WorldDomain:
    """A domain joining at p=reject with reports going elsewhere: nothing reaches this
    service, so its rollback watch is blind until the record names this service's rua."""
    dom = build_domain(index, rng)
    dom.name = f"adopted{index:03d}.example.test"
    dom.adopted_blind = True
    dom.outage_days = frozenset()
    dom.parked = False
    dom.stage = Stage.REJECT
    dom.dns = {"v": "DMARC1", "p": "reject", "rua": "mailto:dmarc@elsewhere.test"}
    return dom


def _services(rng: random.Random) -> list[WorldSender]:
    names = rng.sample(SERVICES, rng.randint(1, 3))
    senders = [WorldSender(n, True, SenderStatus.APPROVED, rng.randint(40, 600)) for n in names]
    if rng.random() < 0.3:  # misconfigured at onboarding, fixed during monitoring
        senders[-1].failing.append((0, rng.randint(15, 50)))
    senders.append(
        WorldSender("forwarder", False, SenderStatus.FORWARDER, rng.randint(2, 30), fail_share=0.5)
    )
    if rng.random() < 0.3:  # payroll: 300 unaligned messages every four weeks (issue 15)
        appear = rng.randint(7, 27)  # its first run after reports have started to arrive
        approved = appear + rng.randint(10, 30)
        payroll = WorldSender(
            "payroll",
            True,
            SenderStatus.APPROVED,
            rng.randint(200, 400),
            appear=appear,
            classified=approved,
            every=28,
        )
        payroll.failing.append((appear, approved + rng.randint(5, 20)))
        senders.append(payroll)
    if rng.random() < 0.45:  # shadow IT: appears, is approved after triage, fixed later
        appear = rng.randint(20, 70)
        approved = appear + rng.randint(2, 10)
        shadow = WorldSender(
            "shadow-it",
            True,
            SenderStatus.APPROVED,
            rng.randint(25, 200),
            appear=appear,
            classified=approved,
        )
        shadow.failing.append((appear, approved + rng.randint(3, 15)))
        senders.append(shadow)
    return senders
