"""IMAP mailboxes as report sources: CRUD, polling with back-off, archiving after storage.

A poll fetches a bounded batch, stores each message as a raw report and enqueues its parse;
the archive job (sent only after that transaction commits) moves exactly the messages whose raw
rows exist. A message fetched twice (the archive step failed) is recognised by its sha256 and
only archived. A failing mailbox backs off exponentially and records its error; others go on.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select

from msp import crypto
from msp.auth.audit import audit
from msp.errors import ValidationFailed
from msp.events import emit_event
from msp.extensions import db
from msp.netguard import Guard
from msp.queues import REPORTS, enqueue
from msp.reports import imap
from msp.reports.models import RawReport, ReportMailbox
from msp.reports.origin import Origin
from msp.reports.service import receive

EDITABLE = ("name", "host", "port", "tls", "username", "folder", "archive_folder", "enabled")
MAX_BACKOFF = timedelta(hours=6)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    fetched: int
    stored: int
    error: str | None


def _key() -> str:
    return str(current_app.config.get("MSP_ENCRYPTION_KEY") or "")


def create_mailbox(tenant_id: int | None, data: dict[str, Any]) -> ReportMailbox:
    if data.get("tls", "tls") not in ("tls", "starttls", "none"):
        raise ValidationFailed("tls must be tls, starttls or none", errors={"tls": ["invalid"]})
    mailbox = ReportMailbox(tenant_id=tenant_id, **{k: data[k] for k in EDITABLE if k in data})
    mailbox.password_encrypted = crypto.encrypt(data["password"], _key())
    mailbox.next_poll_at = datetime.now(UTC)
    db.session.add(mailbox)
    db.session.flush()
    audit(
        "mailbox.create",
        "report_mailbox",
        mailbox.id,
        tenant_id=tenant_id,
        changes={k: data[k] for k in EDITABLE if k in data},
    )
    return mailbox


def update_mailbox(mailbox: ReportMailbox, changes: dict[str, Any]) -> ReportMailbox:
    for key in EDITABLE:
        if key in changes:
            setattr(mailbox, key, changes[key])
    if changes.get("password"):
        mailbox.password_encrypted = crypto.encrypt(changes["password"], _key())
    mailbox.consecutive_failures = 0
    mailbox.next_poll_at = datetime.now(UTC)
    db.session.flush()
    shown = {k: v for k, v in changes.items() if k != "password"}
    if "password" in changes:
        shown["password"] = "(changed)"
    audit(
        "mailbox.update", "report_mailbox", mailbox.id, tenant_id=mailbox.tenant_id, changes=shown
    )
    return mailbox


def delete_mailbox(mailbox: ReportMailbox) -> None:
    audit(
        "mailbox.delete",
        "report_mailbox",
        mailbox.id,
        tenant_id=mailbox.tenant_id,
        changes={"name": mailbox.name},
    )
    db.session.delete(mailbox)
    db.session.flush()


def mailbox_config(mailbox: ReportMailbox) -> imap.MailboxConfig:
    return imap.MailboxConfig(
        host=mailbox.host,
        port=mailbox.port,
        username=mailbox.username,
        password=crypto.decrypt(mailbox.password_encrypted, _key()),
        tls=mailbox.tls,  # type: ignore[arg-type]
        folder=mailbox.folder,
        archive_folder=mailbox.archive_folder,
        ca_file=current_app.config.get("MSP_REPORTS_IMAP_CA_FILE") or None,
        guard=Guard.from_config(current_app.config),
    )


def due_mailboxes(now: datetime) -> list[int]:
    stmt = select(ReportMailbox.id).where(
        ReportMailbox.enabled.is_(True),
        or_(ReportMailbox.next_poll_at.is_(None), ReportMailbox.next_poll_at <= now),
    )
    return list(db.session.scalars(stmt))


def _backoff(failures: int, interval: timedelta) -> timedelta:
    backoff: timedelta = min(interval * (2 ** min(failures, 10)), MAX_BACKOFF)
    return backoff


def _failed(
    mailbox: ReportMailbox, error: imap.MailboxError, now: datetime, interval: timedelta
) -> PollResult:
    mailbox.consecutive_failures += 1
    # Tenants (viewers, notifications) see the category only: the detail may quote whatever
    # answered at the address the tenant chose, so it goes to the server log.
    log.warning("mailbox %s poll failed (%s): %s", mailbox.id, error.kind, error)
    mailbox.last_error = error.public
    mailbox.next_poll_at = now + _backoff(mailbox.consecutive_failures, interval)
    if mailbox.tenant_id is not None and mailbox.consecutive_failures in (1, 5):
        emit_event(
            mailbox.tenant_id,
            "report.mailbox_failed",
            {"mailbox_id": mailbox.id, "error": mailbox.last_error},
            severity="warning",
        )
    return PollResult(0, 0, mailbox.last_error)


def poll(mailbox_id: int, *, now: datetime | None = None) -> PollResult:
    """Fetch, store and enqueue one batch of a mailbox; archive comes after the commit."""
    now = now or datetime.now(UTC)
    cfg = current_app.config
    mailbox = db.session.get(ReportMailbox, mailbox_id)
    if mailbox is None or not mailbox.enabled:
        return PollResult(0, 0, None)
    interval = timedelta(minutes=int(cfg["MSP_REPORTS_MAILBOX_POLL_MINUTES"]))
    batch = int(cfg["MSP_REPORTS_MAILBOX_BATCH"])
    mailbox.last_polled_at = now
    try:
        messages = imap.fetch_batch(
            mailbox_config(mailbox),
            max_messages=batch,
            max_bytes=int(cfg["MSP_REPORTS_MAX_FILE_BYTES"]),
        )
    except (imap.MailboxError, crypto.SecretKeyError) as exc:
        error = exc if isinstance(exc, imap.MailboxError) else imap.MailboxError("auth", str(exc))
        return _failed(mailbox, error, now, interval)
    stored, uids = 0, []
    for message in messages:
        uids.append(message.uid)
        if not message.data:
            _oversized(mailbox, message.uid, now)
            continue
        if _already_stored(mailbox.id, message.data):
            continue
        origin = Origin(
            "imap",
            filename=f"imap-{mailbox.id}-{message.uid}.eml",
            mailbox_id=mailbox.id,
            mailbox_uid=message.uid,
        )
        receive(message.data, origin)
        stored += 1
    if uids:
        enqueue(
            "workers.reports.archive_mailbox_messages",
            queue=REPORTS,
            job_id=f"archive-mailbox-{mailbox.id}-{uids[0]}-{uids[-1]}",
            mailbox_id=mailbox.id,
            uids=uids,
        )
    mailbox.consecutive_failures = 0
    mailbox.last_error = None
    mailbox.last_ok_at = now
    mailbox.next_poll_at = now if len(messages) >= batch else now + interval
    db.session.flush()
    return PollResult(len(messages), stored, None)


def _already_stored(mailbox_id: int, data: bytes) -> bool:
    digest = hashlib.sha256(data).hexdigest()
    stmt = (
        select(RawReport.id)
        .where(RawReport.sha256 == digest, RawReport.mailbox_id == mailbox_id)
        .limit(1)
    )
    return db.session.scalar(stmt) is not None


def _oversized(mailbox: ReportMailbox, uid: str, now: datetime) -> None:
    db.session.add(
        RawReport(
            source="imap",
            mailbox_id=mailbox.id,
            mailbox_uid=uid,
            filename=f"imap-{uid}.eml",
            sha256="",
            size=0,
            codec="none",
            status="rejected",
            received_at=now,
            error="message over the size limit (MSP_REPORTS_MAX_FILE_BYTES); not stored",
            processed_at=now,
        )
    )


def archive(mailbox_id: int, uids: list[str]) -> int:
    """Move the messages whose raw rows are committed to the archive folder."""
    mailbox = db.session.get(ReportMailbox, mailbox_id)
    if mailbox is None:
        return 0
    stored = set(
        db.session.scalars(
            select(RawReport.mailbox_uid).where(
                RawReport.mailbox_id == mailbox_id, RawReport.mailbox_uid.in_(uids)
            )
        )
    )
    return imap.archive(mailbox_config(mailbox), [u for u in uids if u in stored])
