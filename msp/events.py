"""Domain events: what happened to a tenant's domains, written as rows for notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from msp.db import TenantOwnedMixin, UTCDateTime, utcnow
from msp.extensions import db


class Event(TenantOwnedMixin, db.Model):  # type: ignore[name-defined]
    """One thing that happened (``kind`` is dotted: ``dns.drift``, ``policy.proposed``...)."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_tenant_id_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int | None] = mapped_column(
        ForeignKey("domain.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(16), default="info")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def emit_event(
    tenant_id: int,
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    domain_id: int | None = None,
    severity: str = "info",
    flush: bool = True,
) -> Event:
    """Record an event in the caller's transaction; notifications pick it up after commit.

    ``flush=False`` leaves the INSERT to the caller's next flush (many events, one statement).
    """
    event = Event(
        tenant_id=tenant_id,
        domain_id=domain_id,
        kind=kind,
        payload=payload or {},
        severity=severity,
    )
    db.session.add(event)
    if flush:
        db.session.flush()
    return event
