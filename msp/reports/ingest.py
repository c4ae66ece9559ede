"""The ingestion pipeline for one stored raw file: unpack, parse, route, dedupe, store, roll up.

Each report found in the file is handled inside its own SAVEPOINT, so a broken report leaves no
trace while the other reports of the same file are kept. The report row's unique key is claimed
first (``INSERT .. ON CONFLICT DO NOTHING``): a report seen before, by any path or by a retried
job, stops there as ``duplicate`` before its records are even read. Records stream from the
parser into the database (PostgreSQL ``COPY``) without being collected in memory.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Date, func, insert, literal, select, true
from sqlalchemy.dialects import postgresql, sqlite

from msp.extensions import db
from msp.reports import bulk, formats, rollup
from msp.reports.aggregate import AggregateError, AggregateParser, Header, Record
from msp.reports.batch import Batch, parse_small, read_small
from msp.reports.formats import Limits, Payload
from msp.reports.models import (
    DkimSelectorSeen,
    Report,
    ReportDaily,
    ReportRecord,
)
from msp.reports.parsing import (
    ReportParseError,
    TlsReport,
    parse_report_email,
    parse_tls_json,
)
from msp.reports.routing import Route, route

RECORD_COLUMNS = (
    "tenant_id",
    "report_id",
    "domain_id",
    "source_ip",
    "count",
    "disposition",
    "dkim_aligned",
    "spf_aligned",
    "header_from",
    "envelope_from",
    "envelope_to",
    "spf_domain",
    "spf_result",
    "dkim",
    "reasons",
)
_COPY_BATCH = 5000
STATUS_PRIORITY = ("unrouted", "ingested", "duplicate", "rejected")


class NoRecords(ValueError):
    """An aggregate report without a single usable record."""


@dataclass(frozen=True)
class Outcome:
    """What happened to one report found in a raw file."""

    status: str
    kind: str | None = None
    org_name: str | None = None
    external_id: str | None = None
    domain: str | None = None
    tenant_id: int | None = None
    domain_id: int | None = None
    report_pk: int | None = None
    records: int = 0
    messages: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Context:
    """What the pipeline needs to know about where a raw file came from."""

    raw_id: int
    limits: Limits
    reports_domain: str | None
    recipients: tuple[str, ...] = ()
    required_tenant_id: int | None = None
    batch: Batch | None = None


def dialect() -> str:
    return str(db.session.get_bind().dialect.name)


def dialect_insert(model: Any) -> Any:
    return (postgresql.insert if dialect() == "postgresql" else sqlite.insert)(model)


def cut(value: str | None, size: int) -> str | None:
    return value[:size] if value else value


def process(data: bytes, filename: str, ctx: Context) -> list[Outcome]:
    """Every report in one file, each ingested, deduplicated, left unrouted or rejected."""
    try:
        payloads = formats.unpack(data, filename, ctx.limits)
    except formats.FormatError as exc:
        return [Outcome("rejected", error=str(exc))]
    outcomes = [o for payload in payloads for o in _guarded(payload, ctx)]
    return outcomes or [Outcome("rejected", error="no report found")]


def _guarded(payload: Payload, ctx: Context) -> list[Outcome]:
    try:
        return _payload(payload, ctx)
    except (formats.FormatError, AggregateError, ReportParseError, NoRecords) as exc:
        kind = "aggregate" if isinstance(exc, (AggregateError, NoRecords)) else None
        return [Outcome("rejected", kind=kind, error=str(exc))]


def _payload(payload: Payload, ctx: Context) -> list[Outcome]:
    if payload.kind == "xml":
        return [ingest_aggregate(payload, ctx)]
    if payload.kind == "json":
        from msp.reports.tls_failure import ingest_tls as tls

        return [tls(parse_tls_json(payload.read()), ctx)]
    from msp.reports.tls_failure import ingest_failure, ingest_tls

    data = payload.read()
    contents = formats.email_attachments(data, ctx.limits)
    inner = replace(ctx, recipients=ctx.recipients + contents.recipients)
    found = [p for p in contents.payloads if p.kind != "email"]
    if found:
        return [o for p in found for o in _guarded(p, inner)]
    report = parse_report_email(data)
    if isinstance(report, TlsReport):
        return [ingest_tls(report, inner)]
    return [ingest_failure(report, inner)]


def route_for(policy_domain: str, ctx: Context) -> Route:
    if ctx.batch is not None:
        key = (policy_domain, ctx.recipients, ctx.reports_domain, ctx.required_tenant_id)
        if key not in ctx.batch.routes:
            ctx.batch.routes[key] = _lookup_route(policy_domain, ctx)
        return ctx.batch.routes[key]
    return _lookup_route(policy_domain, ctx)


def _lookup_route(policy_domain: str, ctx: Context) -> Route:
    return route(
        policy_domain,
        recipients=ctx.recipients,
        reports_domain=ctx.reports_domain,
        required_tenant_id=ctx.required_tenant_id,
    )


def not_routed(where: Route, kind: str, org: str, ext: str, domain: str) -> Outcome:
    return Outcome(where.status, kind, org, ext, domain, error=where.reason)


def claim_report(
    kind: str, org: str, ext: str, domain: str, where: Route, **fields: Any
) -> int | None:
    """Insert the report row unless its key exists; its id, or None for a duplicate."""
    stmt = (
        dialect_insert(Report)
        .values(
            tenant_id=where.tenant_id,
            domain_id=where.domain_id,
            raw_id=fields.pop("raw_id"),
            kind=kind,
            org_name=org[:255],
            external_id=ext[:255],
            policy_domain=domain[:253],
            created_at=datetime.now(UTC),
            enriched=False,
            **fields,
        )
        .on_conflict_do_nothing(index_elements=["org_name", "external_id", "policy_domain"])
        .returning(Report.id)
    )
    return db.session.execute(stmt).scalar_one_or_none()


def ingest_aggregate(payload: Payload, ctx: Context) -> Outcome:
    if ctx.batch is not None:
        data = read_small(payload.open)
        if data is not None:
            return ingest_small_aggregate(data, ctx, ctx.batch)
    parser = AggregateParser(payload.open)
    header = parser.header
    org, ext, domain = header.org_name.lower(), header.report_id, header.policy.domain
    where = route_for(domain, ctx)
    if where.status != "routed":
        parser.close()
        return not_routed(where, "aggregate", org, ext, domain)
    # A report without one usable record is rejected, even when its key was seen before.
    records = parser.records()
    first = next(records, None)
    if first is None:
        reason = parser.stats.first_skip_reason
        raise NoRecords("report has no records" + (f" ({reason})" if reason else ""))
    with db.session.begin_nested():
        report_pk = claim_report(
            "aggregate",
            org,
            ext,
            domain,
            where,
            raw_id=ctx.raw_id,
            begin=header.begin,
            end=header.end,
            email=cut(header.email, 320),
            generator=cut(header.generator, 255),
            policy=_policy_dict(header),
            records=0,
            messages=0,
        )
        if report_pk is None:
            parser.close()
            return Outcome(
                "duplicate", "aggregate", org, ext, domain, where.tenant_id, where.domain_id
            )
        written = _write_records(itertools.chain([first], records), header, where, report_pk)
        _finish_aggregate(report_pk, header, where, written)
    return Outcome(
        "ingested",
        "aggregate",
        org,
        ext,
        domain,
        where.tenant_id,
        where.domain_id,
        report_pk,
        written.records,
        written.messages,
    )


def ingest_small_aggregate(data: bytes, ctx: Context, batch: Batch) -> Outcome:
    """Parse a small report completely, claim it, and leave its writes to the batch."""
    parser, records = parse_small(data)
    header = parser.header
    org, ext, domain = header.org_name.lower(), header.report_id, header.policy.domain
    where = route_for(domain, ctx)
    if where.status != "routed":
        return not_routed(where, "aggregate", org, ext, domain)
    if not records:
        reason = parser.stats.first_skip_reason
        raise NoRecords("report has no records" + (f" ({reason})" if reason else ""))
    messages = sum(r.count for r in records)
    report_pk = claim_report(
        "aggregate",
        org,
        ext,
        domain,
        where,
        raw_id=ctx.raw_id,
        begin=header.begin,
        end=header.end,
        email=cut(header.email, 320),
        generator=cut(header.generator, 255),
        policy=_policy_dict(header),
        records=len(records),
        messages=messages,
    )
    if report_pk is None:
        return Outcome("duplicate", "aggregate", org, ext, domain, where.tenant_id, where.domain_id)
    assert where.tenant_id is not None and where.domain_id is not None
    days = rollup.report_days(header.begin, header.end)
    for rec in records:
        batch.rows.append(_row(rec, where.tenant_id, report_pk, where.domain_id))
        for sig in rec.dkim:
            if _own(sig.domain, domain):
                key = (
                    where.tenant_id,
                    where.domain_id,
                    rec.source_ip,
                    sig.domain[:253],
                    sig.selector[:255],
                )
                batch.add_selector(key, sig.result == "pass", days[0][0], days[-1][0])
    batch.add_report(report_pk, header.begin, header.end)
    return Outcome(
        "ingested",
        "aggregate",
        org,
        ext,
        domain,
        where.tenant_id,
        where.domain_id,
        report_pk,
        len(records),
        messages,
    )


def _policy_dict(header: Header) -> dict[str, Any]:
    p = header.policy
    return {
        "adkim": p.adkim,
        "aspf": p.aspf,
        "p": p.p,
        "sp": p.sp,
        "np": p.np,
        "pct": p.pct,
        "fo": p.fo,
        "testing": p.testing,
        "discovery_method": p.discovery_method,
        "version": header.version,
        "namespace": header.namespace,
        "errors": list(header.errors)[:10],
    }


@dataclass
class Written:
    records: int = 0
    messages: int = 0
    selectors: dict[tuple[str, str, str], bool] | None = None


def _row(rec: Record, tenant_id: int, report_pk: int, domain_id: int) -> tuple[Any, ...]:
    spf = rec.spf[-1] if rec.spf else None
    return (
        tenant_id,
        report_pk,
        domain_id,
        rec.source_ip,
        rec.count,
        rec.disposition[:16],
        rec.dkim_aligned,
        rec.spf_aligned,
        rec.header_from[:253],
        cut(rec.envelope_from, 253),
        cut(rec.envelope_to, 253),
        cut(spf.domain, 253) if spf else None,
        spf.result[:16] if spf else None,
        json.dumps([[d.domain, d.selector, d.result] for d in rec.dkim][:20]),
        json.dumps(list(rec.reasons)[:10]),
    )


def _own(domain: str, policy_domain: str) -> bool:
    return domain == policy_domain or domain.endswith("." + policy_domain)


def _rows(
    records: Iterable[Record], header: Header, where: Route, report_pk: int, written: Written
) -> Iterator[tuple[Any, ...]]:
    assert where.tenant_id is not None and where.domain_id is not None
    selectors: dict[tuple[str, str, str], bool] = {}
    written.selectors = selectors
    for rec in records:
        written.records += 1
        written.messages += rec.count
        for sig in rec.dkim:
            if _own(sig.domain, header.policy.domain):
                key = (rec.source_ip, sig.domain[:253], sig.selector[:255])
                selectors[key] = selectors.get(key, False) or sig.result == "pass"
        yield _row(rec, where.tenant_id, report_pk, where.domain_id)


def _write_records(
    records: Iterable[Record], header: Header, where: Route, report_pk: int
) -> Written:
    written = Written()
    rows = _rows(records, header, where, report_pk, written)
    if dialect() == "postgresql":
        copy_rows(rows)
    else:
        insert_rows(rows)
    return written


def copy_rows(rows: Iterator[tuple[Any, ...]]) -> None:
    raw_conn = db.session.connection().connection.driver_connection
    sql = f"COPY report_record ({', '.join(RECORD_COLUMNS)}) FROM STDIN"
    with raw_conn.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row(row)


def insert_rows(rows: Iterator[tuple[Any, ...]]) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        item = dict(zip(RECORD_COLUMNS, row, strict=True))
        item["dkim"], item["reasons"] = json.loads(item["dkim"]), json.loads(item["reasons"])
        batch.append(item)
        if len(batch) >= _COPY_BATCH:
            db.session.execute(insert(ReportRecord), batch)
            batch = []
    if batch:
        db.session.execute(insert(ReportRecord), batch)


def _finish_aggregate(report_pk: int, header: Header, where: Route, written: Written) -> None:
    report = db.session.get(Report, report_pk)
    assert report is not None
    report.records, report.messages = written.records, written.messages
    days = rollup.report_days(header.begin, header.end)
    if len(days) == 1:
        _rollup_single_day(report_pk, days[0][0])
    else:
        rollup_split(report_pk, days)
    _upsert_selectors(written.selectors or {}, where, days[0][0], days[-1][0])
    db.session.flush()


GROUP_COLUMNS = (
    ReportRecord.tenant_id,
    ReportRecord.domain_id,
    ReportRecord.source_ip,
    ReportRecord.header_from,
    ReportRecord.disposition,
    ReportRecord.spf_aligned,
    ReportRecord.dkim_aligned,
)
DAILY_KEY = [
    "tenant_id",
    "domain_id",
    "day",
    "source_ip",
    "header_from",
    "disposition",
    "spf_aligned",
    "dkim_aligned",
]


def _rollup_single_day(report_pk: int, day: date) -> None:
    grouped = (
        select(
            *GROUP_COLUMNS[:2],
            literal(day, Date()).label("day"),
            *GROUP_COLUMNS[2:],
            func.sum(ReportRecord.count),
        )
        .where(ReportRecord.report_id == report_pk, true())
        .group_by(*GROUP_COLUMNS)
    )
    stmt = dialect_insert(ReportDaily).from_select([*DAILY_KEY, "messages"], grouped)
    stmt = stmt.on_conflict_do_update(
        index_elements=DAILY_KEY, set_={"messages": ReportDaily.messages + stmt.excluded.messages}
    )
    db.session.execute(stmt)


def rollup_split(report_pk: int, days: list[tuple[date, float]]) -> None:
    grouped = db.session.execute(
        select(*GROUP_COLUMNS, func.sum(ReportRecord.count))
        .where(ReportRecord.report_id == report_pk)
        .group_by(*GROUP_COLUMNS)
    ).all()
    rows = []
    for tenant_id, domain_id, ip, header_from, disposition, spf, dkim, total in grouped:
        for day, count in rollup.split_count(int(total), days):
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "domain_id": domain_id,
                    "day": day,
                    "source_ip": ip,
                    "header_from": header_from,
                    "disposition": disposition,
                    "spf_aligned": spf,
                    "dkim_aligned": dkim,
                    "messages": count,
                }
            )
    if rows:
        stmt = dialect_insert(ReportDaily)
        stmt = stmt.on_conflict_do_update(
            index_elements=DAILY_KEY,
            set_={"messages": ReportDaily.messages + stmt.excluded.messages},
        )
        db.session.execute(stmt, rows)


def _upsert_selectors(
    selectors: dict[tuple[str, str, str], bool], where: Route, first: date, last: date
) -> None:
    upsert_selector_rows(
        [
            {
                "tenant_id": where.tenant_id,
                "domain_id": where.domain_id,
                "source_ip": ip,
                "signing_domain": sdomain,
                "selector": sel,
                "passed": passed,
                "first_seen": first,
                "last_seen": last,
            }
            for (ip, sdomain, sel), passed in selectors.items()
        ]
    )


def upsert_selector_rows(rows: list[dict[str, Any]]) -> None:
    """Insert or widen (passed, first and last seen) DKIM selector sightings."""
    if not rows:
        return
    if dialect() == "postgresql":
        columns = [
            "tenant_id",
            "domain_id",
            "source_ip",
            "signing_domain",
            "selector",
            "passed",
            "first_seen",
            "last_seen",
        ]
        bulk.copy_upsert(
            "report_dkim_selector",
            columns,
            ([r[c] for c in columns] for r in rows),
            conflict=columns[:5],
            set_sql="UPDATE SET passed = t.passed OR EXCLUDED.passed, "
            "first_seen = LEAST(t.first_seen, EXCLUDED.first_seen), "
            "last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen)",
        )
        return
    stmt = dialect_insert(DkimSelectorSeen)
    table = DkimSelectorSeen.__table__
    pg = dialect() == "postgresql"
    least, greatest = (func.least, func.greatest) if pg else (func.min, func.max)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "domain_id", "source_ip", "signing_domain", "selector"],
        set_={
            "passed": table.c.passed | stmt.excluded.passed,
            "first_seen": least(table.c.first_seen, stmt.excluded.first_seen),
            "last_seen": greatest(table.c.last_seen, stmt.excluded.last_seen),
        },
    )
    db.session.execute(stmt, rows)


def overall_status(outcomes: list[Outcome]) -> str:
    statuses = {o.status for o in outcomes}
    return next(s for s in STATUS_PRIORITY if s in statuses)
