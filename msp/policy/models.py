"""Models of the policy area: each domain's plan, its stage changes, and its timeline.

Gate settings are not a table: they live under ``"policy"`` in the tenant's and the domain's
``settings`` JSON (keys and validation in :mod:`msp.policy.settings`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from msp.db import Base, JSONType, TenantOwnedMixin, TimestampMixin, UTCDateTime, utcnow

OPEN_SQL = "status IN ('proposed', 'approved', 'scheduled', 'published')"


class PolicyPlan(TenantOwnedMixin, TimestampMixin, Base):
    """A domain's place on the road and its last evaluation (one row per domain)."""

    __tablename__ = "policy_plan"
    __table_args__ = (
        Index("ix_policy_plan_tenant_id_domain_id", "tenant_id", "domain_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"), unique=True)
    stage: Mapped[str] = mapped_column(String(24), default="none")
    stage_since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    readiness: Mapped[int] = mapped_column(Integer, default=0)
    last_evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_evaluation: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PolicyChange(TenantOwnedMixin, Base):
    """One proposed stage change (escalation or rollback) and its life: proposed, approved,
    scheduled, published (issued to the customer), verified, or rejected/withdrawn/superseded.
    At most one change per domain is open at a time."""

    __tablename__ = "policy_change"
    __table_args__ = (
        Index("ix_policy_change_tenant_id_domain_id", "tenant_id", "domain_id"),
        Index(
            "uq_policy_change_tenant_id_domain_id_open",
            "tenant_id",
            "domain_id",
            unique=True,
            postgresql_where=text(OPEN_SQL),
            sqlite_where=text(OPEN_SQL),
        ),
        Index("ix_policy_change_status_scheduled_for", "status", "scheduled_for"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    from_stage: Mapped[str] = mapped_column(String(24))
    to_stage: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    auto: Mapped[bool] = mapped_column(default=False)
    records: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    proposed_by: Mapped[str] = mapped_column(String(200), default="engine")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PolicyTimelineEntry(TenantOwnedMixin, Base):
    """Something that happened on a domain's road, with its evidence."""

    __tablename__ = "policy_timeline"
    __table_args__ = (
        Index("ix_policy_timeline_tenant_id_domain_id_at", "tenant_id", "domain_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"))
    change_id: Mapped[int | None] = mapped_column(
        ForeignKey("policy_change.id", ondelete="SET NULL")
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(24))
    summary: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
