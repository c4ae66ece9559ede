"""The summaries that depend on sender names and verdicts: the per-domain day summary's
unknown-sender count, and the per-sender day summary (``report_sender_day``), both redone when
the enrichment names a report's IPs, the count also when a verdict changes.

``report_domain_day.unknown`` is the day's messages from senders without a verdict (approved,
forwarder or abuse). The ingestion adds every new message to it (a new IP has no name yet, so
no verdict); the enrichment recounts the days of the reports it has just named, and a verdict
recounts every day of its domain. A recount reads the domains' roll-up rows of those days once
(a write-side cost, so that no page has to).

A recount is a handful of statements for all the domains of a batch, whatever their number:
the batch's day spans are one derived table that every statement joins, each span reaching
its roll-up rows through the primary key. The unknown count is summed here from the rows as
they stream, against the few senders that have a verdict, so no statement joins the roll-up
to the senders by a computed key (a join whose plan goes wrong while a young table's
statistics lag behind it: tens of milliseconds per domain instead of one).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    and_,
    case,
    column,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

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

_SPANS_PER_STATEMENT = 100  # bounds a statement's size; a batch of reports rarely has more
_STREAM_ROWS = 5000

DayKey = tuple[int, int, date]


@dataclass(frozen=True, order=True)
class Span:
    """Days [first, last] of one domain."""

    tenant_id: int
    domain_id: int
    first: date = date.min
    last: date = date.max


def _spans_table(spans: Sequence[Span]) -> Any:
    """The spans as a derived table (tenant_id, domain_id, first, last). On PostgreSQL four
    arrays unnested side by side (one statement text whatever the number of spans, so it is
    compiled once); elsewhere a UNION ALL of one-row selects."""
    if db.session.get_bind().dialect.name == "postgresql":
        return (
            func.unnest(
                literal([s.tenant_id for s in spans], ARRAY(Integer)),
                literal([s.domain_id for s in spans], ARRAY(Integer)),
                literal([s.first for s in spans], ARRAY(Date)),
                literal([s.last for s in spans], ARRAY(Date)),
            )
            .table_valued(
                column("tenant_id", Integer),
                column("domain_id", Integer),
                column("first", Date),
                column("last", Date),
            )
            .render_derived(name="spans")
        )
    rows = [
        select(
            literal(s.tenant_id, Integer).label("tenant_id"),
            literal(s.domain_id, Integer).label("domain_id"),
            literal(s.first, Date).label("first"),
            literal(s.last, Date).label("last"),
        )
        for s in spans
    ]
    return (rows[0] if len(rows) == 1 else union_all(*rows)).subquery("spans")


def _in_span(table: Any, spans: Any) -> Any:
    return and_(
        table.tenant_id == spans.c.tenant_id,
        table.domain_id == spans.c.domain_id,
        table.day >= spans.c.first,
        table.day <= spans.c.last,
    )


def _lock_days(spans: Any) -> dict[DayKey, int]:
    """The spans' summary rows and their unknown counts, locked in key order (so two
    recounts never deadlock). An ingestion adding to one of them meanwhile waits for this
    transaction (and then marks its senders stale again); everything committed before is in
    the roll-up rows read after this."""
    d = ReportDomainDay
    rows = db.session.execute(
        select(d.tenant_id, d.domain_id, d.day, d.unknown)
        .join(spans, _in_span(d, spans))
        .order_by(d.tenant_id, d.domain_id, d.day)
        .with_for_update(of=d)
    )
    return {(t, dom, day): unknown for t, dom, day, unknown in rows}


def _with_verdict(spans: Any) -> set[tuple[int, int, str]]:
    """(tenant, domain, key) of the spans' domains' senders that have a verdict."""
    domains = select(spans.c.tenant_id, spans.c.domain_id).distinct().subquery()
    rows = db.session.execute(
        select(Sender.tenant_id, Sender.domain_id, Sender.key)
        .join(
            domains,
            and_(Sender.tenant_id == domains.c.tenant_id, Sender.domain_id == domains.c.domain_id),
        )
        .where(Sender.status != "unknown")
    )
    return {(t, d, k) for t, d, k in rows}


def _unknown_counts(spans: Any) -> dict[DayKey, int]:
    """Per domain and day in the spans: the messages of senders without a verdict."""
    judged = _with_verdict(spans)
    rows = db.session.execute(
        select(
            ReportDaily.tenant_id,
            ReportDaily.domain_id,
            ReportDaily.day,
            sender_key(ReportDaily.source_ip),
            ReportDaily.messages,
        )
        .join(spans, _in_span(ReportDaily, spans))
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip),
        execution_options={"yield_per": _STREAM_ROWS},
    )
    counts: dict[DayKey, int] = {}
    for tenant_id, domain_id, day, key, messages in rows:
        if (tenant_id, domain_id, key) not in judged:
            day_key = (tenant_id, domain_id, day)
            counts[day_key] = counts.get(day_key, 0) + messages
    return counts


def _write_days(spans: Any, days: dict[DayKey, int], *, senders_current: bool) -> None:
    """Write the recounted unknown count of the locked days that changed (of every one when
    they are marked ``senders_current`` too): one bulk update by primary key."""
    counts = _unknown_counts(spans)
    marked = {"senders_current": True} if senders_current else {}
    rows = [
        {"tenant_id": t, "domain_id": dom, "day": day, "unknown": counts.get((t, dom, day), 0)}
        | marked
        for (t, dom, day), old in days.items()
        if senders_current or counts.get((t, dom, day), 0) != old
    ]
    if rows:
        db.session.execute(update(ReportDomainDay), rows)


def _rebuild_sender_days(spans: Any) -> None:
    """Redo the per-sender day summary of the spans from the roll-up."""
    s = ReportSenderDay
    db.session.execute(
        delete(s).where(exists().where(_in_span(s, spans))),
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
        .join(spans, _in_span(ReportDaily, spans))
        .outerjoin(IpInfo, IpInfo.ip == ReportDaily.source_ip)
        .group_by(ReportDaily.tenant_id, ReportDaily.domain_id, ReportDaily.day, key)
    )
    columns = ("tenant_id", "domain_id", "day", "key", "name", "messages", "passed", "spf")
    db.session.execute(insert(s).from_select([*columns, "dkim"], rows))


def _batches(spans: Iterable[Span]) -> Iterable[list[Span]]:
    ordered = sorted(spans)
    for start in range(0, len(ordered), _SPANS_PER_STATEMENT):
        yield ordered[start : start + _SPANS_PER_STATEMENT]


def recount_unknown(tenant_id: int, domain_id: int) -> None:
    """Recount the unknown-sender messages of every day of the domain (a verdict changed)."""
    spans = _spans_table([Span(tenant_id, domain_id)])
    _write_days(spans, _lock_days(spans), senders_current=False)


def merged_spans(reports: Iterable[tuple[int, int, Any, Any]]) -> list[Span]:
    """The days the reports (tenant, domain, begin, end) cover, per domain, overlapping and
    adjacent spans merged. A day either side: a long report's share of its edge days (and the
    UTC day of its midpoint) may fall just outside the span of its dates."""
    per_domain: dict[tuple[int, int], list[tuple[date, date]]] = {}
    for tenant_id, domain_id, begin, end in reports:
        first, last = day_span(begin, end)
        per_domain.setdefault((tenant_id, domain_id), []).append(
            (first - timedelta(days=1), last + timedelta(days=1))
        )
    spans: list[Span] = []
    for (tenant_id, domain_id), ranges in per_domain.items():
        ranges.sort()
        first, last = ranges[0]
        for lo, hi in ranges[1:]:
            if lo > last + timedelta(days=1):
                spans.append(Span(tenant_id, domain_id, first, last))
                first = lo
            last = max(last, hi)
        spans.append(Span(tenant_id, domain_id, first, last))
    return spans


def recount_for_reports(report_ids: Sequence[int]) -> None:
    """Recount and rebuild the days the reports cover (after the enrichment named their IPs)."""
    if not report_ids:
        return
    reports = db.session.execute(
        select(Report.tenant_id, Report.domain_id, Report.begin, Report.end).where(
            bulk.one_of(Report.id, report_ids), Report.kind == "aggregate"
        )
    )
    for batch in _batches(merged_spans((t, d, begin, end) for t, d, begin, end in reports)):
        spans = _spans_table(batch)
        _write_days(spans, _lock_days(spans), senders_current=True)
        _rebuild_sender_days(spans)
