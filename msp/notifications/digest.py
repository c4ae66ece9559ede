"""The weekly posture digest of one tenant, as one typed value (:func:`build_digest`).

It says, for a reader who is not a specialist: how many domains are protected and how that
moved since last week (headline), how much mail passed DMARC week by week (chart data), each
domain's grade and stage with its next step or what blocks it (one sentence), what changed,
and the few actions that matter, each with the team that owns it and a link into the web view.
How it reads (HTML, text, chart) is :mod:`msp.notifications.digest_render`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from msp.domains.models import Domain
from msp.events import Event
from msp.extensions import db
from msp.notifications.digest_text import (
    PROTECTION_LABELS,
    actions_of,
    change_of,
    domain_sentence,
    headline_sentences,
    protection_of,
)
from msp.notifications.sources import (
    DomainFacts,
    WeekTotal,
    domain_facts,
    week_start,
    weekly_totals,
)
from msp.tenancy.models import Tenant

WEEK = timedelta(days=7)
CHART_WEEKS = 12
MAX_CHANGES = 20
MAX_ACTIONS = 6
CHANGE_KINDS = (
    "dns.drift",
    "dns.finding.opened",
    "dns.finding.closed",
    "policy.proposed",
    "policy.approved",
    "policy.published",
    "policy.verified",
    "policy.rollback_proposed",
)


@dataclass(frozen=True)
class DomainLine:
    id: int
    name: str
    grade: str
    protection: str
    stage: str
    sentence: str
    attention: bool
    link: str


@dataclass(frozen=True)
class ChangeLine:
    domain: str
    what: str
    text: str


@dataclass(frozen=True)
class ActionLine:
    text: str
    team: str
    domain: str
    link: str


@dataclass(frozen=True)
class Headline:
    """Domains per protection level now and a week ago, and what moved, in sentences."""

    counts: tuple[tuple[str, int], ...]
    deltas: tuple[tuple[str, int], ...]
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class Digest:
    """Everything the weekly e-mail says."""

    tenant_id: int
    tenant_name: str
    week: str
    since: str
    until: str
    timezone: str
    headline: Headline
    weeks: tuple[WeekTotal, ...]
    domains: tuple[DomainLine, ...]
    parked: tuple[str, ...]
    changes: tuple[ChangeLine, ...]
    actions: tuple[ActionLine, ...]
    link: str

    @property
    def last_week(self) -> WeekTotal | None:
        return self.weeks[-1] if self.weeks else None


def iso_week(moment: datetime) -> str:
    """``2026-W48``: the ISO week of ``moment`` (in the time zone it carries)."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def scheduled_in(week: str, weekday: int, hour: int, zone: ZoneInfo) -> datetime:
    """When the digest of ``week`` (``YYYY-Www``, the week it is sent in) is due: ``weekday``
    (0 = Monday) at ``hour`` in ``zone``. ValueError for a malformed week."""
    year, _, number = week.partition("-W")
    day = datetime.fromisocalendar(int(year), int(number), weekday % 7 + 1)
    return day.replace(hour=hour, tzinfo=zone)


def _domains(tenant_id: int) -> list[Domain]:
    return list(
        db.session.scalars(
            select(Domain).where(Domain.tenant_id == tenant_id).order_by(Domain.name)
        )
    )


def headline(facts: list[DomainFacts]) -> Headline:
    now = Counter(protection_of(f.posture.dmarc_policy if f.posture else None) for f in facts)
    before = Counter(
        protection_of(f.policy_last_week)
        if f.checked_last_week
        else protection_of(f.posture.dmarc_policy if f.posture else None)
        for f in facts
    )
    return Headline(
        counts=tuple((level, now[level]) for level in PROTECTION_LABELS),
        deltas=tuple((level, now[level] - before[level]) for level in PROTECTION_LABELS),
        sentences=tuple(headline_sentences(facts)),
    )


def _events(tenant_id: int, since: datetime, until: datetime) -> list[Event]:
    return list(
        db.session.scalars(
            select(Event)
            .where(
                Event.tenant_id == tenant_id,
                Event.at >= since,
                Event.at < until,
                Event.kind.in_(CHANGE_KINDS),
            )
            .order_by(Event.at, Event.id)
            .limit(500)
        )
    )


def changes(
    tenant_id: int, facts: list[DomainFacts], since: datetime, until: datetime
) -> list[ChangeLine]:
    names = {f.id: f.name for f in facts}
    found = [
        ChangeLine(f.name, "new sender", f"new sender {s.display_name} ({s.messages:,} messages)")
        for f in facts
        for s in f.new_senders[:5]
    ]
    for event in _events(tenant_id, since, until):
        what, text = change_of(event.kind, dict(event.payload or {}))
        found.append(ChangeLine(names.get(event.domain_id or 0, "-"), what, text))
    return found[:MAX_CHANGES]


def _line(facts: DomainFacts, base: str, now: datetime) -> DomainLine:
    sentence, attention = domain_sentence(facts, now)
    return DomainLine(
        id=facts.id,
        name=facts.name,
        grade=facts.posture.grade if facts.posture else "?",
        protection=protection_of(facts.posture.dmarc_policy if facts.posture else None),
        stage=facts.plan.stage if facts.plan else "none",
        sentence=sentence,
        attention=attention,
        link=f"{base}/domains/{facts.id}",
    )


def build_digest(tenant: Tenant, now: datetime, base_url: str) -> Digest:
    """The digest of the seven days up to ``now`` for ``tenant``."""
    zone = ZoneInfo(tenant.timezone or "UTC")
    local, base = now.astimezone(zone), base_url.rstrip("/")
    since = now - WEEK
    domains = _domains(tenant.id)
    active = [d for d in domains if not d.parked]
    facts = [domain_facts(d, now) for d in active]
    # the chart ends with the last complete week (Monday to Sunday) before ``now``
    last_day = week_start(local.date()) - timedelta(days=1)
    return Digest(
        tenant_id=tenant.id,
        tenant_name=tenant.name,
        week=iso_week(local),
        since=(local - WEEK).strftime("%d %b %Y"),
        until=(local - timedelta(days=1)).strftime("%d %b %Y"),
        timezone=tenant.timezone or "UTC",
        headline=headline(facts),
        weeks=tuple(weekly_totals(tenant.id, [d.id for d in active], last_day, CHART_WEEKS)),
        domains=tuple(_line(f, base, now) for f in facts),
        parked=tuple(d.name for d in domains if d.parked),
        changes=tuple(changes(tenant.id, facts, since, now)),
        actions=tuple(
            ActionLine(a.text, a.team, a.domain, f"{base}/domains/{a.domain_id}")
            for a in actions_of(facts)[:MAX_ACTIONS]
        ),
        link=f"{base}/tenants/{tenant.id}",
    )
