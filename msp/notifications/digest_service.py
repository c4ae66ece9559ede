"""Delivering the weekly digest: each tenant's schedule and recipients, the issue rendered once
per tenant and week, one claimed row per recipient sent exactly once, and unsubscribing.

Exactly once: the job that prepares a week inserts one ``DigestSend`` row per recipient
(unique per tenant, week and address; a second run inserts nothing) and the rows are
committed before any mail goes out; each row is then sent by its own job, which locks it
while it talks to the relay and marks it sent in the same transaction. A worker that dies
mid-send leaves the row pending, so the retry sends it; the Message-ID is the same on both
tries, so a copy the relay had accepted is recognised as the same message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from msp.auth.audit import audit
from msp.errors import BadRequest, NotFound, ValidationFailed
from msp.extensions import db
from msp.notifications.channels import DeliveryError, Message
from msp.notifications.channels.email import ADDRESS_RE, smtp_send
from msp.notifications.delivery import SendOutcome, add_delivery, enqueue_send
from msp.notifications.digest import build_digest, iso_week, scheduled_in
from msp.notifications.digest_render import RenderedDigest, for_recipient, render_digest
from msp.notifications.models import (
    FAILED,
    OPEN_STATUSES,
    PENDING,
    RETRYING,
    SENT,
    DigestIssue,
    DigestOptOut,
    DigestSend,
    DigestSettings,
    NotificationEndpoint,
    NotificationTeam,
    RollupSend,
)
from msp.notifications.settings import NotifySettings
from msp.queues import NOTIFICATIONS, enqueue
from msp.tenancy.models import Tenant

SEND_MAIL_JOB = "workers.notifications.send_digest_mail"
UNSUBSCRIBE_SALT = "msp.digest.unsubscribe"
WEEK_RE = re.compile(r"^\d{4}-W\d{2}$")
MAX_ADDRESSES = 50


@dataclass(frozen=True)
class Schedule:
    """A tenant's digest settings in force (its own, or the deployment's defaults)."""

    enabled: bool
    weekday: int
    hour: int
    timezone: str
    addresses: tuple[str, ...]
    own: bool


def _row(tenant_id: int) -> DigestSettings | None:
    return db.session.scalar(select(DigestSettings).where(DigestSettings.tenant_id == tenant_id))


def schedule_of(tenant: Tenant, settings: NotifySettings) -> Schedule:
    row = _row(tenant.id)
    return Schedule(
        enabled=row.enabled if row else True,
        weekday=row.weekday if row and row.weekday is not None else settings.digest_weekday,
        hour=row.hour if row and row.hour is not None else settings.digest_hour,
        timezone=(row.timezone if row and row.timezone else None) or tenant.timezone or "UTC",
        addresses=tuple(row.addresses) if row else (),
        own=row is not None,
    )


def _check(changes: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if changes.get("timezone"):
        try:
            ZoneInfo(str(changes["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            errors["timezone"] = ["not a time zone name (e.g. Europe/Berlin)"]
    bad = [a for a in changes.get("addresses", []) if not ADDRESS_RE.match(str(a))]
    if bad:
        errors["addresses"] = [f"not an e-mail address: {a!r}" for a in bad]
    elif len(changes.get("addresses", [])) > MAX_ADDRESSES:
        errors["addresses"] = [f"at most {MAX_ADDRESSES} addresses"]
    return errors


def update_schedule(tenant: Tenant, changes: dict[str, Any], settings: NotifySettings) -> Schedule:
    """Change the tenant's digest settings (enabled, weekday, hour, timezone, addresses)."""
    errors = _check(changes)
    if errors:
        raise ValidationFailed("the digest settings do not validate", errors=errors)
    row = _row(tenant.id)
    if row is None:
        row = DigestSettings(tenant_id=tenant.id, addresses=[])
        db.session.add(row)
    for key in ("enabled", "weekday", "hour", "timezone"):
        if key in changes:
            setattr(row, key, changes[key])
    if "addresses" in changes:
        row.addresses = sorted({str(a).strip().lower() for a in changes["addresses"]})
    db.session.flush()
    audit("digest_settings.update", "tenant", tenant.id, tenant_id=tenant.id, changes=changes)
    return schedule_of(tenant, settings)


def _digest_endpoints(tenant_id: int) -> list[NotificationEndpoint]:
    return list(
        db.session.scalars(
            select(NotificationEndpoint)
            .join(NotificationTeam, NotificationTeam.id == NotificationEndpoint.team_id)
            .where(
                NotificationEndpoint.tenant_id == tenant_id,
                NotificationEndpoint.enabled.is_(True),
                NotificationTeam.receives_digest.is_(True),
            )
            .order_by(NotificationEndpoint.id)
        )
    )


def recipients(tenant_id: int, schedule: Schedule) -> list[str]:
    """Every address that gets the digest: the schedule's own and the e-mail endpoints of
    the teams that receive it, without those who unsubscribed."""
    found = {a.lower() for a in schedule.addresses}
    for endpoint in _digest_endpoints(tenant_id):
        if endpoint.kind == "email":
            found.update(str(a).lower() for a in endpoint.config.get("to", []))
    gone = set(
        db.session.scalars(select(DigestOptOut.address).where(DigestOptOut.tenant_id == tenant_id))
    )
    return sorted(found - gone)


def rollup_schedule(settings: NotifySettings) -> Schedule:
    """The staff roll-up goes out on the deployment's digest day and hour, in UTC."""
    return Schedule(True, settings.digest_weekday, settings.digest_hour, "UTC", (), False)


def week_due(schedule: Schedule, now: datetime) -> str | None:
    """The ISO week whose digest is due at ``now`` (from its day and hour on), if any."""
    zone = ZoneInfo(schedule.timezone)
    local = now.astimezone(zone)
    week = iso_week(local)
    return week if local >= scheduled_in(week, schedule.weekday, schedule.hour, zone) else None


def due_digests(settings: NotifySettings, now: datetime) -> list[tuple[int, str]]:
    """(tenant id, week) of every active tenant whose digest is due and not prepared yet."""
    prepared = {
        (tenant_id, week)
        for tenant_id, week in db.session.execute(
            select(DigestIssue.tenant_id, DigestIssue.week).where(
                DigestIssue.created_at >= now - timedelta(days=8)
            )
        )
    }
    due = []
    for tenant in db.session.scalars(select(Tenant).where(Tenant.status == "active")):
        schedule = schedule_of(tenant, settings)
        week = week_due(schedule, now) if schedule.enabled else None
        if week is None or (tenant.id, week) in prepared:
            continue
        if recipients(tenant.id, schedule) or _digest_endpoints(tenant.id):
            due.append((tenant.id, week))
    return due


def moment_of(
    tenant: Tenant, settings: NotifySettings, week: str | None, now: datetime
) -> datetime:
    """``now``, or the moment the digest of ``week`` (``YYYY-Www``) is scheduled."""
    if week is None:
        return now
    if not WEEK_RE.match(week):
        raise BadRequest("week must look like 2026-W49")
    schedule = schedule_of(tenant, settings)
    try:
        return scheduled_in(week, schedule.weekday, schedule.hour, ZoneInfo(schedule.timezone))
    except ValueError as exc:
        raise BadRequest(f"no such week: {week}") from exc


def render(tenant: Tenant, settings: NotifySettings, moment: datetime) -> RenderedDigest:
    """The digest of ``tenant`` as it reads at ``moment`` (nothing is stored or sent)."""
    return render_digest(build_digest(tenant, moment, settings.base_url), settings.brand)


def _issue(tenant: Tenant, week: str, settings: NotifySettings, now: datetime) -> DigestIssue:
    issue = db.session.scalar(
        select(DigestIssue).where(DigestIssue.tenant_id == tenant.id, DigestIssue.week == week)
    )
    if issue is None:
        content = render(tenant, settings, now).as_row()
        issue = DigestIssue(tenant_id=tenant.id, week=week, content=content)
        db.session.add(issue)
        db.session.flush()
    return issue


def _claim(issue: DigestIssue, addresses: list[str]) -> list[int]:
    if not addresses:
        return []
    rows = [
        {"tenant_id": issue.tenant_id, "issue_id": issue.id, "week": issue.week, "address": a}
        for a in addresses
    ]
    stmt = insert(DigestSend).values(rows).on_conflict_do_nothing().returning(DigestSend.id)
    return list(db.session.scalars(stmt))


def _to_endpoints(issue: DigestIssue, rendered: RenderedDigest) -> int:
    """Webhook-type endpoints of digest teams get the digest's data once per week."""
    message = Message(subject=rendered.subject, text=rendered.text, data=rendered.data)
    created = [
        add_delivery(endpoint, f"digest:{issue.week}", message)
        for endpoint in _digest_endpoints(issue.tenant_id)
        if endpoint.kind != "email"
    ]
    db.session.flush()
    for delivery in created:
        if delivery is not None:
            enqueue_send(delivery)
    return sum(d is not None for d in created)


def prepare_week(tenant: Tenant, settings: NotifySettings, now: datetime) -> list[int]:
    """This week's issue, claimed for every recipient not claimed yet; a send job is queued
    for each new claim (after the commit). Returns the new claims' ids."""
    schedule = schedule_of(tenant, settings)
    week = iso_week(now.astimezone(ZoneInfo(schedule.timezone)))
    issue = _issue(tenant, week, settings, now)
    claimed = _claim(issue, recipients(tenant.id, schedule))
    _to_endpoints(issue, RenderedDigest.from_row(issue.content))
    for send_id in claimed:
        enqueue(
            SEND_MAIL_JOB,
            queue=NOTIFICATIONS,
            job_id=f"notify-digest-mail-{send_id}",
            send_id=send_id,
        )
    return claimed


def _serializer(secret_key: str) -> URLSafeSerializer:
    if not secret_key:
        raise DeliveryError("SECRET_KEY is not set: unsubscribe links cannot be signed")
    return URLSafeSerializer(secret_key, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(tenant_id: int, address: str, secret_key: str) -> str:
    return str(_serializer(secret_key).dumps([tenant_id, address.lower()]))


def unsubscribe_url(settings: NotifySettings, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}/api/v1/digest/unsubscribe/{token}"


def read_token(token: str, secret_key: str) -> tuple[int, str]:
    try:
        tenant_id, address = _serializer(secret_key).loads(token)
    except (BadSignature, ValueError, TypeError) as exc:
        raise NotFound("no such unsubscribe link") from exc
    return int(tenant_id), str(address)


def unsubscribe(token: str, secret_key: str) -> tuple[int, str]:
    """Stop the digest for the token's recipient (idempotent). Returns (tenant id, address)."""
    tenant_id, address = read_token(token, secret_key)
    if db.session.get(Tenant, tenant_id) is None:
        raise NotFound("no such unsubscribe link")
    stmt = insert(DigestOptOut).values(tenant_id=tenant_id, address=address)
    if db.session.execute(stmt.on_conflict_do_nothing().returning(DigestOptOut.id)).first():
        audit(
            "digest.unsubscribe",
            "tenant",
            tenant_id,
            tenant_id=tenant_id,
            changes={"address": address},
        )
    return tenant_id, address


def _lock(send_id: int, now: datetime) -> DigestSend | None:
    row = db.session.scalar(select(DigestSend).where(DigestSend.id == send_id).with_for_update())
    if row is None or row.status not in OPEN_STATUSES:
        return None
    return row


def _opted_out(row: DigestSend) -> bool:
    return (
        db.session.scalar(
            select(DigestOptOut.id).where(
                DigestOptOut.tenant_id == row.tenant_id, DigestOptOut.address == row.address
            )
        )
        is not None
    )


def _mail(row: DigestSend, settings: NotifySettings) -> Any:
    issue = db.session.get(DigestIssue, row.issue_id)
    assert issue is not None  # the foreign key cascades: a claim never outlives its issue
    token = unsubscribe_token(row.tenant_id, row.address, settings.secret_key)
    return for_recipient(
        RenderedDigest.from_row(issue.content),
        to=row.address,
        mail_from=settings.mail_from,
        brand=settings.brand,
        unsubscribe_url=unsubscribe_url(settings, token),
        unsubscribe_mailto=None,
        key=f"{row.tenant_id}:{row.week}:{row.address}",
    )


def send_claimed(send_id: int, settings: NotifySettings, now: datetime) -> SendOutcome:
    """Send one recipient's digest if it is still open; record the result on its row."""
    row = _lock(send_id, now)
    if row is None:
        return SendOutcome(send_id, "skipped", 0, "already sent or gone")
    if _opted_out(row):
        row.status, row.last_error = FAILED, "unsubscribed before it was sent"
        return SendOutcome(row.id, FAILED, row.attempts, row.last_error)
    row.attempts += 1
    try:
        smtp_send(_mail(row, settings), settings)
    except DeliveryError as exc:
        return _failed(row, exc, settings, now)
    row.status, row.sent_at, row.last_error = SENT, now, None
    return SendOutcome(row.id, SENT, row.attempts, "sent")


def _failed(
    row: DigestSend, error: DeliveryError, settings: NotifySettings, now: datetime
) -> SendOutcome:
    row.last_error = str(error)[:2000]
    if error.permanent or row.attempts >= settings.max_attempts:
        row.status = FAILED
    else:
        row.status = RETRYING
        wait = settings.retry_seconds[min(row.attempts, len(settings.retry_seconds)) - 1]
        enqueue(
            SEND_MAIL_JOB,
            queue=NOTIFICATIONS,
            send_id=row.id,
            job_id=f"notify-digest-mail-{row.id}-a{row.attempts + 1}",
            at=now + timedelta(seconds=wait) if wait else None,
        )
    return SendOutcome(row.id, row.status, row.attempts, row.last_error)


LOST_AFTER = timedelta(minutes=10)


def requeue_lost(now: datetime, limit: int = 500) -> int:
    """Queue again the claims still pending well after they were made (their job was lost,
    say with a Redis restart): a claim is never forgotten. Sending one twice is impossible:
    the send job locks the row and skips it once sent."""
    rows = list(
        db.session.scalars(
            select(DigestSend.id)
            .where(DigestSend.status == PENDING, DigestSend.created_at <= now - LOST_AFTER)
            .order_by(DigestSend.id)
            .limit(limit)
        )
    )
    for send_id in rows:
        enqueue(
            SEND_MAIL_JOB,
            queue=NOTIFICATIONS,
            send_id=send_id,
            job_id=f"notify-digest-mail-{send_id}-lost-{now:%Y%m%d%H%M}",
        )
    return len(rows)


def prune(retention_days: int, now: datetime) -> int:
    """Delete digest issues (and their per-recipient rows) past the retention period, and the
    staff roll-ups' claims; opt-outs are kept for ever."""
    if retention_days <= 0:
        return 0
    cutoff = now - timedelta(days=retention_days)
    issues = db.session.execute(delete(DigestIssue).where(DigestIssue.created_at < cutoff))
    db.session.execute(delete(RollupSend).where(RollupSend.created_at < cutoff))
    return int(getattr(issues, "rowcount", 0) or 0)
