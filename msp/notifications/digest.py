"""The weekly posture digest of one tenant: what to say (:func:`build_digest`) and how it
reads as e-mail, text and HTML (:func:`render_digest`).

It is built from the tenant's domains, its events of the week, the notification deliveries
that failed, and the sections other areas contribute (:mod:`msp.notifications.sources`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import func, select

from msp.domains.models import Domain
from msp.events import Event
from msp.extensions import db
from msp.notifications.channels import Message
from msp.notifications.models import FAILED, Delivery
from msp.notifications.routing import severity_rank
from msp.notifications.sources import SOURCES, DomainRef, Section, collect
from msp.tenancy.models import Tenant

WEEK = timedelta(days=7)
MAX_HIGHLIGHTS = 15


@dataclass(frozen=True)
class Highlight:
    at: str
    kind: str
    severity: str
    domain: str
    detail: str


@dataclass(frozen=True)
class Digest:
    """Everything the weekly e-mail says, in one typed value."""

    tenant_id: int
    tenant_name: str
    week: str
    since: str
    until: str
    timezone: str
    domains: tuple[str, ...]
    parked: tuple[str, ...]
    event_counts: tuple[tuple[str, int], ...]
    highlights: tuple[Highlight, ...]
    failed_deliveries: int
    sections: tuple[Section, ...]
    link: str


def iso_week(moment: datetime) -> str:
    """``2026-W48``: the ISO week of ``moment`` (in the time zone it carries)."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _domains(tenant_id: int) -> list[Domain]:
    return list(
        db.session.scalars(
            select(Domain).where(Domain.tenant_id == tenant_id).order_by(Domain.name)
        )
    )


def _event_counts(tenant_id: int, since: datetime, until: datetime) -> list[tuple[str, int]]:
    rows = db.session.execute(
        select(Event.kind, func.count())
        .where(Event.tenant_id == tenant_id, Event.at >= since, Event.at < until)
        .group_by(Event.kind)
        .order_by(func.count().desc(), Event.kind)
    ).all()
    return [(str(kind), int(count)) for kind, count in rows]


def _detail(payload: dict[str, Any]) -> str:
    for key in ("code", "summary", "key", "message"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _highlights(
    tenant_id: int, since: datetime, until: datetime, names: dict[int, str], zone: ZoneInfo
) -> list[Highlight]:
    events = db.session.scalars(
        select(Event)
        .where(Event.tenant_id == tenant_id, Event.at >= since, Event.at < until)
        .order_by(Event.at.desc())
        .limit(500)
    )
    important = [e for e in events if severity_rank(e.severity) >= severity_rank("warning")]
    return [
        Highlight(
            e.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            e.kind,
            e.severity,
            names.get(e.domain_id or 0, "-"),
            _detail(e.payload or {}),
        )
        for e in important[:MAX_HIGHLIGHTS]
    ]


def _failed(tenant_id: int, since: datetime) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.tenant_id == tenant_id,
                Delivery.status == FAILED,
                Delivery.created_at >= since,
            )
        )
        or 0
    )


def _sections(domains: list[DomainRef], since: datetime, until: datetime) -> list[Section]:
    sections = []
    for source in SOURCES:
        # Each source reads inside a savepoint that is rolled back afterwards: whatever it
        # writes (a lazily created row) or breaks (a failed statement) stays out of the digest.
        savepoint = db.session.begin_nested()
        try:
            sections.append(collect(source, domains, since, until))
        finally:
            savepoint.rollback()
    return sections


def build_digest(tenant: Tenant, now: datetime, base_url: str) -> Digest:
    """The digest of the seven days up to ``now`` for ``tenant``."""
    zone = ZoneInfo(tenant.timezone or "UTC")
    local = now.astimezone(zone)
    since = now - WEEK
    domains = _domains(tenant.id)
    names = {d.id: d.name for d in domains}
    refs = [DomainRef(d.id, d.name) for d in domains if not d.parked]
    return Digest(
        tenant_id=tenant.id,
        tenant_name=tenant.name,
        week=iso_week(local),
        since=(local - WEEK).strftime("%Y-%m-%d"),
        until=local.strftime("%Y-%m-%d"),
        timezone=tenant.timezone or "UTC",
        domains=tuple(d.name for d in domains if not d.parked),
        parked=tuple(d.name for d in domains if d.parked),
        event_counts=tuple(_event_counts(tenant.id, since, now)),
        highlights=tuple(_highlights(tenant.id, since, now, names, zone)),
        failed_deliveries=_failed(tenant.id, since),
        sections=tuple(_sections(refs, since, now)),
        link=f"{base_url.rstrip('/')}/tenants/{tenant.id}",
    )


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("msp.notifications", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_digest(digest: Digest) -> Message:
    """The digest as an e-mail (text and HTML) and, in ``data``, as JSON for webhooks."""
    env = _environment()
    context: dict[str, Any] = {"d": digest}
    subject = f"Weekly DMARC posture for {digest.tenant_name} ({digest.week})"
    return Message(
        subject=subject,
        text=env.get_template("digest.txt").render(context),
        html=env.get_template("digest.html").render(context),
        data={"type": "digest", "digest": json.loads(json.dumps(asdict(digest)))},
    )


def digest_message(tenant: Tenant, now: datetime, base_url: str) -> Message:
    """The digest of ``tenant`` at ``now``, ready to send or to preview."""
    return render_digest(build_digest(tenant, now, base_url))
