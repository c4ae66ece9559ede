"""Domain events: what happened to a tenant's domains, written as rows for notifications,
and their retention purge."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, String, exists
from sqlalchemy.orm import Mapped, mapped_column

from msp.db import Base, TenantOwnedMixin, UTCDateTime, utcnow
from msp.extensions import db
from msp.purge import PURGE_BUDGET_SECONDS, PURGE_CHUNK, purge_in_chunks


class Event(TenantOwnedMixin, Base):
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


def purge_events(
    retention_days: int,
    now: datetime,
    *,
    chunk: int = PURGE_CHUNK,
    budget_seconds: float = PURGE_BUDGET_SECONDS,
) -> int:
    """Delete events older than ``retention_days`` (0: keep for ever) in chunks; the count.

    Only dispatched events that no row of another table references go: a notification
    delivery's ``event_id`` cascades, so deleting an event would take its deliveries with it
    (open ones would never be sent, finished ones would leave before their own retention).
    Such an event goes in a later run, once those rows are pruned. The referencing tables are
    found in the schema, so this foundation module names no area above it. Never commits.
    """
    if retention_days <= 0:
        return 0
    cutoff = now - timedelta(days=retention_days)
    return purge_in_chunks(
        Event,
        lambda old: (
            old.at < cutoff,
            old.dispatched_at.is_not(None),
            *(~exists().where(column == old.id) for column in _columns_referencing_events()),
        ),
        chunk=chunk,
        budget_seconds=budget_seconds,
    )


def _columns_referencing_events() -> list[Column[Any]]:
    """Every foreign-key column, in any area's table, that points at ``event.id``."""
    event_id = Event.__table__.c.id
    return [
        fk.parent
        for table in Base.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column is event_id
    ]
