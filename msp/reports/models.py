"""Models of the reports area: raw files, parsed reports, records, roll-ups, senders, mailboxes.

Raw files (``report_raw``) are kept forever with their status; unrouted ones have no tenant and
are visible to MSP staff only. Everything parsed from a routed report is tenant-owned and
carries ``tenant_id`` as the leading column of its indexes. ``report_ip_info`` is public data
about IP addresses (reverse DNS, ASN), shared by all tenants.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    desc,
)
from sqlalchemy.orm import Mapped, mapped_column

from msp.db import Base, JSONType, TenantOwnedMixin, TimestampMixin, UTCDateTime, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")

RAW_STATUSES = ("pending", "ingested", "duplicate", "rejected", "unrouted")
REPORT_KINDS = ("aggregate", "failure", "smtp_tls")
SENDER_STATUSES = ("approved", "forwarder", "abuse", "unknown")


class ReportMailbox(TimestampMixin, Base):
    """An IMAP mailbox polled for reports: one tenant's, or MSP-wide (``tenant_id`` NULL)."""

    __tablename__ = "report_mailbox"
    __table_args__ = (Index("ix_report_mailbox_tenant_id_name", "tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int] = mapped_column(Integer, default=993)
    tls: Mapped[str] = mapped_column(String(10), default="tls")
    username: Mapped[str] = mapped_column(String(320))
    password_encrypted: Mapped[str] = mapped_column(Text)
    folder: Mapped[str] = mapped_column(String(200), default="INBOX")
    archive_folder: Mapped[str] = mapped_column(String(200), default="Archive")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)


class RawReport(Base):
    """One file as received, stored before any parsing, with where it stands."""

    __tablename__ = "report_raw"
    __table_args__ = (
        Index("ix_report_raw_tenant_id_status", "tenant_id", "status", "received_at"),
        Index("ix_report_raw_status_received_at", "status", "received_at"),
        Index("ix_report_raw_domain", "domain"),
        Index("ix_report_raw_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))
    mailbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("report_mailbox.id", ondelete="SET NULL")
    )
    mailbox_uid: Mapped[str | None] = mapped_column(String(64))
    recipient: Mapped[str | None] = mapped_column(String(320))
    filename: Mapped[str] = mapped_column(String(255), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    codec: Mapped[str] = mapped_column(String(8), default="none")
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    storage_key: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    kind: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    org_name: Mapped[str | None] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    domain: Mapped[str | None] = mapped_column(String(253))
    records: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Report(TenantOwnedMixin, Base):
    """One parsed report of a tenant's domain, counted once (unique reporter key)."""

    __tablename__ = "report"
    __table_args__ = (
        UniqueConstraint("org_name", "external_id", "policy_domain", name="uq_report_key"),
        Index("ix_report_tenant_id_domain_id_begin", "tenant_id", "domain_id", "begin"),
        # The reports list, newest first, read in index order (MSP-wide and per tenant), and
        # each domain's last report received (one probe per domain of a page).
        Index("ix_report_begin_id", desc("begin"), desc("id")),
        Index("ix_report_tenant_id_begin_id", "tenant_id", desc("begin"), desc("id")),
        Index("ix_report_tenant_id_domain_id_created_at", "tenant_id", "domain_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    raw_id: Mapped[int | None] = mapped_column(ForeignKey("report_raw.id", ondelete="SET NULL"))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    org_name: Mapped[str] = mapped_column(String(255))
    external_id: Mapped[str] = mapped_column(String(255))
    policy_domain: Mapped[str] = mapped_column(String(253))
    begin: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    email: Mapped[str | None] = mapped_column(String(320))
    generator: Mapped[str | None] = mapped_column(String(255))
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    records: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)
    enriched: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReportRecord(TenantOwnedMixin, Base):
    """One aggregate ``<record>``: a source IP's messages and their authentication results.

    Read only through its report (already scoped to the tenant), so its one index is on
    ``report_id``, which also serves the cascade when a report goes. This table and the two
    roll-up tables below take a row per source IP of every report, so they have no foreign
    keys (a parent lookup per row written): delete triggers on ``report`` and ``domain``
    (migration 0010) cascade instead, and only the ingestion writes them, with the ids of the
    report it claimed in the same transaction.
    """

    __tablename__ = "report_record"
    __table_args__ = (Index("ix_report_record_report_id", "report_id"),)
    tenant_via = "report_id"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_id: Mapped[int] = mapped_column(Integer)  # cascade: trigger (migration 0010)
    domain_id: Mapped[int] = mapped_column(Integer)
    source_ip: Mapped[str] = mapped_column(String(45))
    count: Mapped[int] = mapped_column(Integer)
    disposition: Mapped[str] = mapped_column(String(16))
    dkim_aligned: Mapped[bool] = mapped_column(Boolean)
    spf_aligned: Mapped[bool] = mapped_column(Boolean)
    header_from: Mapped[str] = mapped_column(String(253))
    envelope_from: Mapped[str | None] = mapped_column(String(253))
    envelope_to: Mapped[str | None] = mapped_column(String(253))
    spf_domain: Mapped[str | None] = mapped_column(String(253))
    spf_result: Mapped[str | None] = mapped_column(String(16))
    dkim: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    reasons: Mapped[list[Any]] = mapped_column(JSONType, default=list)


class ReportDaily(TenantOwnedMixin, Base):
    """Daily roll-up per domain, source IP and outcome: what dashboards and policy read."""

    __tablename__ = "report_daily"
    __table_args__ = (
        # The natural key is the primary key (no surrogate id to index on every insert); its
        # leading (tenant_id, domain_id, day) serve the dashboards' range reads.
        PrimaryKeyConstraint(
            "tenant_id",
            "domain_id",
            "day",
            "source_ip",
            "header_from",
            "disposition",
            "spf_aligned",
            "dkim_aligned",
            name="pk_report_daily",
        ),
    )
    tenant_via = "domain_id"

    domain_id: Mapped[int] = mapped_column(Integer)  # cascade: trigger (migration 0010)
    day: Mapped[date] = mapped_column(Date)
    source_ip: Mapped[str] = mapped_column(String(45))
    header_from: Mapped[str] = mapped_column(String(253))
    disposition: Mapped[str] = mapped_column(String(16))
    spf_aligned: Mapped[bool] = mapped_column(Boolean)
    dkim_aligned: Mapped[bool] = mapped_column(Boolean)
    messages: Mapped[int] = mapped_column(BigInteger)


class ReportDomainDay(TenantOwnedMixin, Base):
    """Per domain and day: messages, those passing DMARC, and those from unknown senders.

    The summary every page reads instead of the per-IP roll-up: the portfolio, the attention
    queue, the tenant dashboard and the compliance charts (one row per domain and day, whatever
    the number of source IPs). ``messages`` and ``passed`` are added by the ingestion in the
    same write as the roll-up (``sink``); ``unknown`` is added there too (a new IP has no
    verdict yet) and recounted from the roll-up when the enrichment names the IPs and when a
    sender's verdict changes (:mod:`msp.reports.summaries`).
    """

    __tablename__ = "report_domain_day"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "domain_id", "day", name="pk_report_domain_day"),
        # The attention queue (and the portfolio's sorts) read the last days of every domain
        # reached: from this index alone (an index-only scan once the days are vacuumed).
        Index(
            "ix_report_domain_day_day",
            "day",
            "tenant_id",
            "domain_id",
            "messages",
            "passed",
            "unknown",
        ),
    )
    tenant_via = "domain_id"

    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)
    passed: Mapped[int] = mapped_column(BigInteger, default=0)
    unknown: Mapped[int] = mapped_column(BigInteger, default=0)
    # Whether report_sender_day holds this day's senders as the roll-up has them now: set by
    # the enrichment's rebuild, cleared by every ingestion that adds to the day.
    senders_current: Mapped[bool] = mapped_column(Boolean, default=False)


class ReportSenderDay(TenantOwnedMixin, Base):
    """Per domain, day and sender key: messages and passes, the roll-up named and summed.

    Rebuilt by the enrichment for the days of the reports it named (``summaries``); a page of
    senders reads it for the days marked ``senders_current`` and the roll-up only for the
    others (normally none), so a domain with a hundred thousand source IPs a day costs as many
    rows as it has senders, not IPs.
    """

    __tablename__ = "report_sender_day"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "domain_id", "day", "key", name="pk_report_sender_day"),
    )
    tenant_via = "domain_id"

    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    key: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(255))
    messages: Mapped[int] = mapped_column(BigInteger)
    passed: Mapped[int] = mapped_column(BigInteger)
    spf: Mapped[int] = mapped_column(BigInteger)
    dkim: Mapped[int] = mapped_column(BigInteger)


class ReportDomainLatest(TenantOwnedMixin, Base):
    """Per domain: the last day its aggregate reports cover, widened by the ingestion.

    One row per domain, so "reports stopped arriving" is a range read of ``last_day`` that
    returns only the silent domains, instead of a probe of every domain the reader reaches.
    """

    __tablename__ = "report_domain_latest"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "domain_id", name="pk_report_domain_latest"),
        Index("ix_report_domain_latest_last_day", "last_day"),
    )
    tenant_via = "domain_id"

    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"))
    last_day: Mapped[date] = mapped_column(Date)


class DkimSelectorSeen(TenantOwnedMixin, Base):
    """A DKIM selector of the domain seen in reports, per source IP (for learnt selectors)."""

    __tablename__ = "report_dkim_selector"
    __table_args__ = (
        PrimaryKeyConstraint(
            "tenant_id",
            "domain_id",
            "source_ip",
            "signing_domain",
            "selector",
            name="pk_report_dkim_selector",
        ),
    )
    tenant_via = "domain_id"

    domain_id: Mapped[int] = mapped_column(Integer)  # cascade: trigger (migration 0010)
    source_ip: Mapped[str] = mapped_column(String(45))
    signing_domain: Mapped[str] = mapped_column(String(253))
    selector: Mapped[str] = mapped_column(String(255))
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen: Mapped[date] = mapped_column(Date)
    last_seen: Mapped[date] = mapped_column(Date)


class IpInfo(Base):
    """Public facts about a source IP and the sender it maps to (shared by all tenants)."""

    __tablename__ = "report_ip_info"
    # A page of senders finds its source IPs by key (msp.reports.sender_queries._ips_of).
    __table_args__ = (Index("ix_report_ip_info_sender_key", "sender_key"),)

    ip: Mapped[str] = mapped_column(String(45), primary_key=True)
    sender_key: Mapped[str] = mapped_column(String(253))
    sender_name: Mapped[str] = mapped_column(String(255))
    service_type: Mapped[str | None] = mapped_column(String(64))
    ptr: Mapped[str | None] = mapped_column(String(253))
    base_domain: Mapped[str | None] = mapped_column(String(253))
    asn: Mapped[int | None] = mapped_column(BigInteger)
    as_name: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(8))
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    looked_up_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Sender(TenantOwnedMixin, TimestampMixin, Base):
    """A sending service seen for (or declared on) a domain, with the tenant's verdict."""

    __tablename__ = "report_sender"
    __table_args__ = (
        UniqueConstraint("tenant_id", "domain_id", "key", name="uq_report_sender_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(253))
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    first_seen: Mapped[date | None] = mapped_column(Date)
    last_seen: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)


class FailureReportRow(TenantOwnedMixin, Base):
    """A failure report (ARF); redacted unless the tenant opted out, deleted after retention."""

    __tablename__ = "report_failure"
    __table_args__ = (
        Index("ix_report_failure_tenant_id_domain_id_arrival", "tenant_id", "domain_id", "arrival"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"))
    arrival: Mapped[datetime] = mapped_column(UTCDateTime())
    source_ip: Mapped[str | None] = mapped_column(String(45))
    feedback_type: Mapped[str | None] = mapped_column(String(32))
    auth_failure: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    delivery_result: Mapped[str | None] = mapped_column(String(32))
    dkim_domain: Mapped[str | None] = mapped_column(String(253))
    header_from: Mapped[str | None] = mapped_column(String(320))
    original_mail_from: Mapped[str | None] = mapped_column(String(320))
    original_rcpt_to: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(998))
    sample_headers: Mapped[str | None] = mapped_column(Text)
    redacted: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class TlsResult(TenantOwnedMixin, Base):
    """TLS-RPT outcome per policy (``mx_host`` NULL: the policy's totals) or per receiving MX."""

    __tablename__ = "report_tls_result"
    __table_args__ = (Index("ix_report_tls_result_tenant_id_domain_id", "tenant_id", "domain_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("report.id", ondelete="CASCADE"))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    policy_domain: Mapped[str] = mapped_column(String(253))
    policy_type: Mapped[str] = mapped_column(String(32))
    mx_host: Mapped[str | None] = mapped_column(String(253))
    successful: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    failure_types: Mapped[dict[str, Any]] = mapped_column(default=dict)
