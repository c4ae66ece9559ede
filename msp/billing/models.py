"""Models of the billing area: one billing account per tenant, Stripe events, usage reports.

``StripeEvent`` is the idempotency record of webhooks (unique Stripe event id); its
``tenant_id`` is NULL for events that match no tenant (unknown customer or unknown type).
``UsageReport`` makes the daily meter event happen once per tenant and day.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from msp.db import Base, TenantOwnedMixin, TimestampMixin, UTCDateTime, utcnow

NO_SUBSCRIPTION = "none"


class BillingAccount(TenantOwnedMixin, TimestampMixin, Base):
    """A tenant's Stripe customer and subscription, as last seen (webhook or sync)."""

    __tablename__ = "billing_account"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_billing_account_tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(32), default=NO_SUBSCRIPTION)
    plan: Mapped[str | None] = mapped_column(String(32))
    price_id: Mapped[str | None] = mapped_column(String(255))
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    # A failed payment flags the tenant (no new domains); it is never deleted for it.
    delinquent: Mapped[bool] = mapped_column(default=False)
    payment_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_invoice_id: Mapped[str | None] = mapped_column(String(255))
    # Stripe does not deliver events in order: an older event never overwrites a newer state.
    subscription_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invoice_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StripeEvent(Base):
    """One webhook event received, kept once per Stripe event id, with what was done."""

    __tablename__ = "billing_stripe_event"
    __table_args__ = (
        Index("ix_billing_stripe_event_tenant_id_received_at", "tenant_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    tenant_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("tenant.id", ondelete="SET NULL")
    )
    object_id: Mapped[str] = mapped_column(String(255), default="")
    outcome: Mapped[str] = mapped_column(String(16))  # applied, stale, unmatched, ignored
    livemode: Mapped[bool] = mapped_column(default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UsageReport(TenantOwnedMixin, Base):
    """The metered usage of one tenant and day, sent to Stripe once."""

    __tablename__ = "billing_usage_report"
    __table_args__ = (UniqueConstraint("tenant_id", "day", name="uq_billing_usage_report_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    identifier: Mapped[str] = mapped_column(String(100), unique=True)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
