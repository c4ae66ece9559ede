"""Models of the publishing area: a tenant's DNS provider accounts, each domain's provider,
zone and publish mode, and one publication (the write of a change's records) per change.

The tenant's default publish mode lives under ``"publishing"`` in the tenant's ``settings``
JSON (validated by :mod:`msp.publishing.settings`); a domain's override is a column here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from msp.db import Base, JSONType, TenantOwnedMixin, TimestampMixin, UTCDateTime, utcnow


class DnsProvider(TenantOwnedMixin, TimestampMixin, Base):
    """One provider account of a tenant; secret options are sealed, never shown back."""

    __tablename__ = "dns_provider"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sealed_secrets: Mapped[str] = mapped_column(Text, default="")


class DomainPublishing(TenantOwnedMixin, TimestampMixin, Base):
    """Where and how a domain's records are published (one row per domain)."""

    __tablename__ = "domain_publishing"
    __table_args__ = (
        Index("ix_domain_publishing_tenant_id_domain_id", "tenant_id", "domain_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"))
    provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("dns_provider.id", ondelete="SET NULL"), index=True
    )
    zone: Mapped[str | None] = mapped_column(String(253))
    mode: Mapped[str | None] = mapped_column(String(16))
    delegated: Mapped[bool] = mapped_column(default=False)
    # MTA-STS policy mode this app serves at mta-sts.<domain> (delegated domains; None: none)
    mta_sts_mode: Mapped[str | None] = mapped_column(String(16))


class Publication(TenantOwnedMixin, Base):
    """The write of one change's records: status ``pending``, ``retrying``, ``written``,
    ``held`` (a hand edit: nothing written) or ``failed`` (the provider kept refusing)."""

    __tablename__ = "dns_publication"
    __table_args__ = (
        Index("ix_dns_publication_tenant_id_domain_id", "tenant_id", "domain_id"),
        Index("ix_dns_publication_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"))
    change_id: Mapped[int | None] = mapped_column(
        ForeignKey("policy_change.id", ondelete="SET NULL"), unique=True
    )
    provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("dns_provider.id", ondelete="SET NULL"), index=True
    )
    provider: Mapped[str] = mapped_column(String(100), default="")
    zone: Mapped[str] = mapped_column(String(253), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    records: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    written_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
