"""Models of the notifications area: teams, their endpoints (secrets sealed with Fernet),
routing rules, and deliveries (one row per message and endpoint, with status and attempts).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from msp.db import Base, JSONType, TenantOwnedMixin, TimestampMixin, UTCDateTime, utcnow

PENDING, RETRYING, SENT, FAILED = "pending", "retrying", "sent", "failed"
# A team in daily-summary mode: the event waits (``batched``) for the day's summary, then is
# ``summarised`` into that one delivery.
BATCHED, SUMMARISED = "batched", "summarised"
DELIVERY_STATUSES = (PENDING, RETRYING, SENT, FAILED, BATCHED, SUMMARISED)
OPEN_STATUSES = (PENDING, RETRYING)


class NotificationTeam(TenantOwnedMixin, TimestampMixin, Base):
    """A team of one tenant that fixes things (service desk, sysadmins, security, network)."""

    __tablename__ = "notification_team"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200), default="")
    receives_digest: Mapped[bool] = mapped_column(default=False)
    # Quiet hours in the tenant's time zone ([start, end) local hours; start > end spans
    # midnight): deliveries wait until they end, except critical ones.
    quiet_start: Mapped[int | None] = mapped_column()
    quiet_end: Mapped[int | None] = mapped_column()
    # One message a day (at ``summary_hour`` local time) instead of one per event.
    summary_mode: Mapped[bool] = mapped_column(default=False)
    summary_hour: Mapped[int] = mapped_column(default=8)

    endpoints: Mapped[list[NotificationEndpoint]] = relationship(
        back_populates="team", cascade="all, delete-orphan", order_by="NotificationEndpoint.id"
    )


class NotificationEndpoint(TenantOwnedMixin, TimestampMixin, Base):
    """Where a team is reached: a channel kind, its plain configuration, its sealed secrets."""

    __tablename__ = "notification_endpoint"
    __table_args__ = (Index("ix_notification_endpoint_tenant_id_team_id", "tenant_id", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(
        ForeignKey("notification_team.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100), default="")
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sealed_secrets: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)

    team: Mapped[NotificationTeam] = relationship(back_populates="endpoints")


class NotificationRule(TenantOwnedMixin, TimestampMixin, Base):
    """Events of ``kinds`` (and finding ``code``) at ``min_severity`` or above go to a team."""

    __tablename__ = "notification_rule"
    __table_args__ = (Index("ix_notification_rule_tenant_id_team_id", "tenant_id", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(
        ForeignKey("notification_team.id", ondelete="CASCADE"), index=True
    )
    kinds: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64), default="*")
    min_severity: Mapped[str] = mapped_column(String(16), default="info")

    team: Mapped[NotificationTeam] = relationship()


class Delivery(TenantOwnedMixin, TimestampMixin, Base):
    """One message to one endpoint. ``key`` ("event:42", "digest:2026-W48", "test:...") is
    unique per endpoint, so a repeated sweep or a retried job never creates a second send."""

    __tablename__ = "notification_delivery"
    __table_args__ = (
        UniqueConstraint("tenant_id", "endpoint_id", "key"),
        Index("ix_notification_delivery_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_notification_delivery_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("notification_endpoint.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("event.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    subject: Mapped[str] = mapped_column(String(300), default="")
    message: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_error: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(String(300))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    endpoint: Mapped[NotificationEndpoint] = relationship()


class DigestSettings(TenantOwnedMixin, TimestampMixin, Base):
    """A tenant's weekly digest: on/off, when (weekday, hour, time zone) and extra addresses
    (besides the e-mail endpoints of its teams that receive the digest). No row: the
    deployment's defaults and the tenant's time zone."""

    __tablename__ = "notification_digest_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    weekday: Mapped[int | None] = mapped_column()
    hour: Mapped[int | None] = mapped_column()
    timezone: Mapped[str | None] = mapped_column(String(64))
    addresses: Mapped[list[Any]] = mapped_column(JSONType, default=list)


class DigestOptOut(TenantOwnedMixin, Base):
    """A recipient who unsubscribed from a tenant's digest (one-click or the footer link)."""

    __tablename__ = "notification_digest_optout"
    __table_args__ = (UniqueConstraint("tenant_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(254))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DigestIssue(TenantOwnedMixin, TimestampMixin, Base):
    """One week's rendered digest of a tenant, the same for every recipient."""

    __tablename__ = "notification_digest_issue"
    __table_args__ = (UniqueConstraint("tenant_id", "week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[str] = mapped_column(String(10))
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DigestSend(TenantOwnedMixin, TimestampMixin, Base):
    """One recipient's copy of one week's digest. The row is claimed (inserted, committed)
    before the mail is sent; the unique key makes a second run of the job a no-op."""

    __tablename__ = "notification_digest_send"
    __table_args__ = (
        UniqueConstraint("tenant_id", "week", "address"),
        Index("ix_notification_digest_send_tenant_id_issue_id", "tenant_id", "issue_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(
        ForeignKey("notification_digest_issue.id", ondelete="CASCADE")
    )
    week: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProblemState(TenantOwnedMixin, Base):
    """The last state of one problem (a domain's finding code) that was notified: the same
    open problem notifies once, then again only when it changes or is resolved."""

    __tablename__ = "notification_problem_state"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    is_open: Mapped[bool] = mapped_column(default=True)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notified_open: Mapped[bool] = mapped_column(default=False)


class RollupSend(TimestampMixin, Base):
    """One MSP staff member's weekly roll-up across the tenants they look after: claimed
    (inserted, committed) before it is sent, unique per week and person. Not tenant-owned:
    it spans tenants and goes to the MSP's own people."""

    __tablename__ = "notification_rollup_send"
    __table_args__ = (UniqueConstraint("week", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    week: Mapped[str] = mapped_column(String(10))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
