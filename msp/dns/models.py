"""Models of the dns area: posture runs, the last value of each record, drift and findings.

``PostureRun`` keeps each check's whole result (JSON). ``RecordSnapshot`` holds the latest value
per record key (``spf``, ``dmarc``, ``dkim:<selector>``, ``mx``, ``mta_sts``,
``mta_sts_policy``, ``tls_rpt``, ``bimi``) so the next run can tell drift; ``RecordDrift`` stores
each change with its old and new value. ``PostureFinding`` is one problem while it lasts: opened
by the first run that sees it, closed by the first run that no longer does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, desc
from sqlalchemy.orm import Mapped, mapped_column

from msp.db import Base, TenantOwnedMixin, UTCDateTime, utcnow


class PostureRun(TenantOwnedMixin, Base):
    __tablename__ = "dns_posture_run"
    __table_args__ = (
        Index("ix_dns_posture_run_tenant_domain_at", "tenant_id", "domain_id", "checked_at"),
        # A domain's latest run (pages, the plan): one backward probe, no sort.
        Index("ix_dns_posture_run_domain_latest", "domain_id", desc("checked_at"), desc("id")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"), index=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    grade: Mapped[str] = mapped_column(String(2))
    spf_status: Mapped[str] = mapped_column(String(16))
    dmarc_status: Mapped[str] = mapped_column(String(16))
    dmarc_policy: Mapped[str | None] = mapped_column(String(16))
    error_count: Mapped[int] = mapped_column(default=0)
    warning_count: Mapped[int] = mapped_column(default=0)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RecordSnapshot(TenantOwnedMixin, Base):
    __tablename__ = "dns_record_snapshot"
    __table_args__ = (UniqueConstraint("tenant_id", "domain_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("dns_posture_run.id", ondelete="CASCADE"), index=True
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RecordDrift(TenantOwnedMixin, Base):
    __tablename__ = "dns_record_drift"
    __table_args__ = (
        Index("ix_dns_record_drift_tenant_domain_at", "tenant_id", "domain_id", "detected_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("dns_posture_run.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(128))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PostureFinding(TenantOwnedMixin, Base):
    __tablename__ = "dns_finding"
    __table_args__ = (
        Index("ix_dns_finding_tenant_domain_closed", "tenant_id", "domain_id", "closed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(512))
    code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    remediation: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opened_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("dns_posture_run.id", ondelete="SET NULL"), index=True
    )
    closed_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("dns_posture_run.id", ondelete="SET NULL"), index=True
    )
