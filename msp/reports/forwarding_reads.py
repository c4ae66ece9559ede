"""The read of a domain's failing aggregate records for forwarding evidence: which signatures,
SPF domain and override reasons each record carried, with its sender and the sender's reverse
DNS name and service type.

The reports area owns this SQL; the policy engine judges the rows
(:mod:`msp.policy.evidence_reads` turns them into its own evidence). Read through the scoped
parent (``report``: tenant and domain) and only for records of the window that failed both SPF
and DKIM alignment, capped at :data:`MAX_RECORDS`, as the architecture asks of the high-volume
tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from msp.extensions import db
from msp.reports.models import IpInfo, Report, ReportRecord
from msp.reports.read_base import domain_or_404, sender_key

MAX_RECORDS = 20_000  # failing records read per evaluation (the busiest reports' are enough)


@dataclass(frozen=True)
class FailingRecord:
    """One aggregate record whose mail failed both SPF and DKIM alignment."""

    sender: str  # the sender key (``ip:<address>`` until enrichment names it)
    header_from: str
    spf_domain: str | None
    spf_result: str | None
    dkim: tuple[tuple[str, str, str], ...]  # (signing domain, selector, result)
    reasons: tuple[str, ...]  # the receiver's policy override reasons
    ptr: str | None  # the source IP's reverse DNS name, once enriched
    service_type: str | None  # the enrichment's service type of the source IP


@dataclass(frozen=True)
class FailingRecords:
    """The failing records of one domain's window (at most ``MAX_RECORDS``)."""

    domain: str
    records: tuple[FailingRecord, ...]


def _dkim(raw: Any) -> tuple[tuple[str, str, str], ...]:
    out = []
    for item in raw or ():
        if isinstance(item, list | tuple) and len(item) == 3:
            out.append((str(item[0]), str(item[1]), str(item[2])))
    return tuple(out)


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def failing_records(
    domain_id: int, since: date, until: date, limit: int = MAX_RECORDS
) -> FailingRecords:
    """The domain's aggregate records of reports begun in [since, until] whose mail failed
    both SPF and DKIM alignment; raises NotFound for an unknown domain."""
    domain = domain_or_404(domain_id)
    stmt = (
        select(
            sender_key(ReportRecord.source_ip),
            ReportRecord.header_from,
            ReportRecord.spf_domain,
            ReportRecord.spf_result,
            ReportRecord.dkim,
            ReportRecord.reasons,
            IpInfo.ptr,
            IpInfo.service_type,
        )
        .join(Report, Report.id == ReportRecord.report_id)
        .outerjoin(IpInfo, IpInfo.ip == ReportRecord.source_ip)
        .where(
            Report.tenant_id == domain.tenant_id,
            Report.domain_id == domain.id,
            Report.kind == "aggregate",
            Report.begin >= _start(since),
            Report.begin < _start(until + timedelta(days=1)),
            ReportRecord.spf_aligned.is_(False),
            ReportRecord.dkim_aligned.is_(False),
        )
        .limit(limit)
    )
    records = tuple(
        FailingRecord(
            sender=sender,
            header_from=header_from,
            spf_domain=spf_domain,
            spf_result=spf_result,
            dkim=_dkim(dkim),
            reasons=tuple(str(r) for r in reasons or ()),
            ptr=ptr,
            service_type=kind,
        )
        for sender, header_from, spf_domain, spf_result, dkim, reasons, ptr, kind in (
            db.session.execute(stmt)
        )
    )
    return FailingRecords(domain.name, records)
