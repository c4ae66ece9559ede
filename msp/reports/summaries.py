"""The summaries that depend on sender names and verdicts: the per-domain day summary's
unknown-sender count, and the per-sender day summary (``report_sender_day``), both redone when
the enrichment names a report's IPs, the count also when a verdict changes.

``report_domain_day.unknown`` is the day's messages from senders without a verdict (approved,
forwarder or abuse). The ingestion adds every new message to it (a new IP has no name yet, so
no verdict); the enrichment recounts the days of the reports it has just named, and a verdict
recounts every day of its domain. A recount reads the domain's roll-up rows of those days once
(a write-side cost, so that no page has to).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import and_, case, delete, func, insert, select, update

from msp.extensions import db
from msp.reports import bulk
from msp.reports.models import (
    IpInfo,
    Report,
    ReportDaily,
    ReportDomainDay,
    ReportSenderDay,
    Sender,
)
from msp.reports.read_base import sender_key
from msp.reports.rollup import day_span


def _unknown_of_day() -> object:
    """Correlated: the unknown-sender messages of the summary row's domain and day."""
    key = sender_key(ReportDaily.source_ip)
    unknown = func.coalesce(Sender.status, "unknown") == "unknown"
    return (
        select(func.coalesce(func.sum(case((unknown, ReportDaily.messages), else_=0)), 0))
        .select_from(ReportDaily)
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip)
        .outerjoin(
            Sender,
            and_(
                Sender.tenant_id == ReportDaily.tenant_id,
                Sender.domain_id == ReportDaily.domain_id,
                Sender.key == key,
            ),
        )
        .where(
            ReportDaily.tenant_id == ReportDomainDay.tenant_id,
            ReportDaily.domain_id == ReportDomainDay.domain_id,
            ReportDaily.day == ReportDomainDay.day,
        )
        .correlate(ReportDomainDay)
        .scalar_subquery()
    )


def recount_unknown(
    tenant_id: int, domain_id: int, first: date | None = None, last: date | None = None
) -> None:
    """Recount the unknown-sender messages of the domain's days in [first, last] (or all)."""
    where = [ReportDomainDay.tenant_id == tenant_id, ReportDomainDay.domain_id == domain_id]
    if first is not None:
        where.append(ReportDomainDay.day >= first)
    if last is not None:
        where.append(ReportDomainDay.day <= last)
    db.session.execute(
        update(ReportDomainDay).where(*where).values(unknown=_unknown_of_day()),
        execution_options={"synchronize_session": False},
    )


def rebuild_sender_days(tenant_id: int, domain_id: int, first: date, last: date) -> None:
    """Redo the domain's per-sender day summary for [first, last] from the roll-up.

    The days are marked current first: that locks their summary rows, so an ingestion adding
    to one of them meanwhile waits for this transaction and then marks it stale again, and
    everything committed before is in the roll-up rows read below.
    """
    db.session.execute(
        update(ReportDomainDay)
        .where(
            ReportDomainDay.tenant_id == tenant_id,
            ReportDomainDay.domain_id == domain_id,
            ReportDomainDay.day >= first,
            ReportDomainDay.day <= last,
        )
        .values(senders_current=True),
        execution_options={"synchronize_session": False},
    )
    db.session.execute(
        delete(ReportSenderDay).where(
            ReportSenderDay.tenant_id == tenant_id,
            ReportSenderDay.domain_id == domain_id,
            ReportSenderDay.day >= first,
            ReportSenderDay.day <= last,
        ),
        execution_options={"synchronize_session": False},
    )
    key = sender_key(ReportDaily.source_ip)
    m = ReportDaily.messages
    rows = (
        select(
            ReportDaily.tenant_id,
            ReportDaily.domain_id,
            ReportDaily.day,
            key,
            func.max(func.coalesce(IpInfo.sender_name, ReportDaily.source_ip)),
            func.sum(m),
            func.sum(case((ReportDaily.spf_aligned | ReportDaily.dkim_aligned, m), else_=0)),
            func.sum(case((ReportDaily.spf_aligned, m), else_=0)),
            func.sum(case((ReportDaily.dkim_aligned, m), else_=0)),
        )
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip)
        .where(
            ReportDaily.tenant_id == tenant_id,
            ReportDaily.domain_id == domain_id,
            ReportDaily.day >= first,
            ReportDaily.day <= last,
        )
        .group_by(ReportDaily.tenant_id, ReportDaily.domain_id, ReportDaily.day, key)
    )
    columns = ("tenant_id", "domain_id", "day", "key", "name", "messages", "passed", "spf")
    db.session.execute(insert(ReportSenderDay).from_select([*columns, "dkim"], rows))


def recount_for_reports(report_ids: Sequence[int]) -> None:
    """Recount and rebuild the days the reports cover, per domain (after the enrichment named
    their IPs)."""
    if not report_ids:
        return
    rows = db.session.execute(
        select(Report.tenant_id, Report.domain_id, func.min(Report.begin), func.max(Report.end))
        .where(bulk.one_of(Report.id, report_ids), Report.kind == "aggregate")
        .group_by(Report.tenant_id, Report.domain_id)
        .order_by(Report.tenant_id, Report.domain_id)
    )
    for tenant_id, domain_id, begin, end in rows:
        first, last = day_span(begin, end)
        # A day either side: a long report's share of its edge days (and the UTC day of its
        # midpoint) may fall just outside the span of its dates.
        first, last = first - timedelta(days=1), last + timedelta(days=1)
        recount_unknown(tenant_id, domain_id, first, last)
        rebuild_sender_days(tenant_id, domain_id, first, last)
