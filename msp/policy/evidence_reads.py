"""Reads of report data the reports area does not offer yet: the forwarding evidence of a
domain's failing mail (which signatures, SPF domains and override reasons it carried).

Read through the scoped parent (``report``: tenant and domain) and only for failing records
of the window, as the architecture asks of the high-volume tables. The natural home is
``msp.reports.queries``; it lives here until the reports area takes it over.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import String, func, literal, select

from msp.domains.models import Domain
from msp.errors import NotFound
from msp.extensions import db
from msp.policy.forwarding import RecordEvidence, forwarding_signs
from msp.reports.models import IpInfo, Report, ReportRecord

MAX_RECORDS = 20_000  # failing records read per evaluation (the busiest reports' are enough)


def _dkim(raw: Any) -> tuple[tuple[str, str, str], ...]:
    out = []
    for item in raw or ():
        if isinstance(item, list | tuple) and len(item) == 3:
            out.append((str(item[0]), str(item[1]), str(item[2])))
    return tuple(out)


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _records(domain: Domain, since: date, until: date) -> Iterator[tuple[str, RecordEvidence]]:
    key = func.coalesce(IpInfo.sender_key, literal("ip:", String) + ReportRecord.source_ip)
    stmt = (
        select(
            key,
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
        .limit(MAX_RECORDS)
    )
    for sender, header_from, spf_domain, spf_result, dkim, reasons, ptr, kind in db.session.execute(
        stmt
    ):
        yield (
            sender,
            RecordEvidence(
                domain=domain.name,
                header_from=header_from,
                spf_domain=spf_domain,
                spf_result=spf_result,
                dkim=_dkim(dkim),
                reasons=tuple(str(r) for r in reasons or ()),
                ptr=ptr,
                service_type=kind,
            ),
        )


def forwarding_evidence(domain_id: int, since: date, until: date) -> Mapping[str, tuple[str, ...]]:
    """Per sender key, why its failing mail in [since, until] looks forwarded (only those)."""
    domain = db.session.get(Domain, domain_id)
    if domain is None:
        raise NotFound(f"domain {domain_id} not found")
    grouped: dict[str, list[RecordEvidence]] = {}
    for sender, evidence in _records(domain, since, until):
        grouped.setdefault(sender, []).append(evidence)
    found = {sender: forwarding_signs(records) for sender, records in grouped.items()}
    return {sender: signs for sender, signs in found.items() if signs}
