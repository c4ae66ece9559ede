"""The MSP staff's weekly roll-up: one e-mail per staff member across the tenants they look
after (all of them, or a restricted member's assigned ones): which clients moved this week,
which domains are stuck and why, each with a link into the web view.

Sent exactly once per person and week the same way as the tenant digest: a ``RollupSend``
row is claimed and committed before the mail goes out, then sent by its own job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from msp.auth.models import Membership, User
from msp.extensions import db
from msp.notifications.channels import DeliveryError
from msp.notifications.channels.email import smtp_send
from msp.notifications.delivery import SendOutcome
from msp.notifications.digest import Digest, build_digest, iso_week
from msp.notifications.digest_text import PROTECTION_LABELS
from msp.notifications.models import (
    FAILED,
    OPEN_STATUSES,
    PENDING,
    RETRYING,
    SENT,
    RollupSend,
)
from msp.notifications.settings import NotifySettings
from msp.queues import NOTIFICATIONS, enqueue
from msp.tenancy.models import Tenant

SEND_JOB = "workers.notifications.send_rollup"


@dataclass(frozen=True)
class StuckDomain:
    name: str
    why: str
    link: str


@dataclass(frozen=True)
class TenantLine:
    """One client in the roll-up."""

    name: str
    link: str
    counts: tuple[tuple[str, int], ...]
    moved: tuple[str, ...]
    stuck: tuple[StuckDomain, ...]


@dataclass(frozen=True)
class Rollup:
    week: str
    moved: tuple[TenantLine, ...]
    stuck: tuple[TenantLine, ...]
    steady: tuple[TenantLine, ...]


def _line(digest: Digest) -> TenantLine:
    moved = tuple(s for s in digest.headline.sentences if "moved" in s or "lost" in s)
    stuck = tuple(StuckDomain(d.name, d.sentence, d.link) for d in digest.domains if d.attention)
    return TenantLine(digest.tenant_name, digest.link, digest.headline.counts, moved, stuck)


def build_rollup(tenants: list[Tenant], now: datetime, base_url: str) -> Rollup:
    lines = [_line(build_digest(t, now, base_url)) for t in tenants]
    return Rollup(
        week=iso_week(now),
        moved=tuple(line for line in lines if line.moved),
        stuck=tuple(line for line in lines if line.stuck and not line.moved),
        steady=tuple(line for line in lines if not line.moved and not line.stuck),
    )


def staff() -> list[User]:
    """Active MSP staff with a login address."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.msp_role.is_not(None), User.is_active.is_(True))
            .order_by(User.id)
        )
    )


def tenants_of(user: User) -> list[Tenant]:
    """The active tenants ``user`` looks after (every one unless restricted)."""
    stmt = select(Tenant).where(Tenant.status == "active").order_by(Tenant.name)
    if user.staff_restricted:
        assigned = select(Membership.tenant_id).where(Membership.user_id == user.id)
        stmt = stmt.where(Tenant.id.in_(assigned))
    return list(db.session.scalars(stmt))


def claim_week(now: datetime) -> list[int]:
    """Claim this week's roll-up for every staff member who has tenants; queue the sends."""
    week = iso_week(now)
    rows = [{"week": week, "user_id": u.id} for u in staff() if tenants_of(u)]
    if not rows:
        return []
    stmt = insert(RollupSend).values(rows).on_conflict_do_nothing().returning(RollupSend.id)
    claimed = list(db.session.scalars(stmt))
    for send_id in claimed:
        enqueue(SEND_JOB, queue=NOTIFICATIONS, job_id=f"notify-rollup-{send_id}", send_id=send_id)
    return claimed


def render_rollup(rollup: Rollup, brand_name: str) -> tuple[str, str, str]:
    """(subject, text, html) of a roll-up."""
    env = Environment(
        loader=PackageLoader("msp.notifications", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    context: dict[str, Any] = {"r": rollup, "brand": brand_name, "levels": PROTECTION_LABELS}
    subject = (
        f"Clients this week ({rollup.week}): {len(rollup.moved)} moved, {len(rollup.stuck)} stuck"
    )
    return (
        subject,
        env.get_template("rollup.txt").render(context),
        env.get_template("rollup.html").render(context),
    )


def _mail(user: User, rollup: Rollup, settings: NotifySettings) -> EmailMessage:
    subject, text, html = render_rollup(rollup, settings.brand.name)
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = subject, settings.mail_from, user.email
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=settings.mail_from.rpartition("@")[2] or None)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    return mail


def send_claimed(send_id: int, settings: NotifySettings, now: datetime) -> SendOutcome:
    """Send one staff member's roll-up if it is still open; record the result."""
    row = db.session.scalar(select(RollupSend).where(RollupSend.id == send_id).with_for_update())
    if row is None or row.status not in OPEN_STATUSES:
        return SendOutcome(send_id, "skipped", 0, "already sent or gone")
    user = db.session.get(User, row.user_id)
    assert user is not None  # the foreign key cascades
    row.attempts += 1
    try:
        rollup = build_rollup(tenants_of(user), now, settings.base_url)
        smtp_send(_mail(user, rollup, settings), settings)
    except DeliveryError as exc:
        row.last_error = str(exc)[:2000]
        row.status = FAILED if exc.permanent or row.attempts >= settings.max_attempts else RETRYING
        if row.status == RETRYING:
            wait = settings.retry_seconds[min(row.attempts, len(settings.retry_seconds)) - 1]
            enqueue(
                SEND_JOB,
                queue=NOTIFICATIONS,
                job_id=f"notify-rollup-{row.id}-a{row.attempts + 1}",
                at=now + timedelta(seconds=wait) if wait else None,
                send_id=row.id,
            )
        return SendOutcome(row.id, row.status, row.attempts, row.last_error)
    row.status, row.sent_at, row.last_error = SENT, now, None
    return SendOutcome(row.id, SENT, row.attempts, "sent")


LOST_AFTER = timedelta(minutes=10)


def requeue_lost(now: datetime, limit: int = 100) -> int:
    """Queue again the claims still pending well after they were made (their job was lost)."""
    rows = list(
        db.session.scalars(
            select(RollupSend.id)
            .where(RollupSend.status == PENDING, RollupSend.created_at <= now - LOST_AFTER)
            .order_by(RollupSend.id)
            .limit(limit)
        )
    )
    for send_id in rows:
        enqueue(
            SEND_JOB,
            queue=NOTIFICATIONS,
            job_id=f"notify-rollup-{send_id}-lost-{now:%Y%m%d%H%M}",
            send_id=send_id,
        )
    return len(rows)
