"""The ingestion pipeline for one stored raw file: unpack, parse, route, dedupe, store, roll up.

Each report found in the file is handled inside its own SAVEPOINT, so a broken report leaves no
trace while the other reports of the same file are kept. The report row's unique key is claimed
first (``INSERT .. ON CONFLICT DO NOTHING``): a report seen before, by any path or by a retried
job, stops there as ``duplicate`` before its records are even read. Records stream from the
parser into the database (:mod:`msp.reports.sink`; on PostgreSQL COPY on a helper thread, the
parse itself in a forked child when :mod:`msp.reports.parse_process` allows) without being
collected in memory. Small reports met by a :class:`~msp.reports.batch.Batch` are parsed
here and routed, claimed and written with the rest of the batch.
"""

from __future__ import annotations

import gc
import itertools
import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from msp.extensions import db
from msp.reports import bulk, formats, parse_process, sink
from msp.reports.aggregate import AggregateError, AggregateParser, Header, Record
from msp.reports.formats import Limits, Payload
from msp.reports.models import Report
from msp.reports.parsing import (
    ReportParseError,
    TlsReport,
    parse_report_email,
    parse_tls_json,
)
from msp.reports.routing import Route, route

if TYPE_CHECKING:
    from msp.reports.batch import Batch

log = logging.getLogger(__name__)
STATUS_PRIORITY = ("unrouted", "ingested", "duplicate", "rejected")
# While a report streams, the collector runs every 50,000 allocations instead of every 700:
# the parse allocates millions of short-lived objects and no cycles (measured: -25% per record).
_GC_THRESHOLD = 50_000
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, ...] = gc.get_threshold()


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
    ticket: int | None = None  # a report parsed by a batch, settled when the batch writes


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
    """Every report in one file, each ingested, deduplicated, left unrouted or rejected.

    Nothing a file contains can raise out of here except a database error (which the caller's
    batch handles): any other exception becomes a ``rejected`` outcome with a reason.
    """
    try:
        payloads = formats.unpack(data, filename, ctx.limits)
    except formats.FormatError as exc:
        return [Outcome("rejected", error=str(exc))]
    except SQLAlchemyError:
        raise
    except Exception as exc:  # one broken file must not take its batch down
        return [crashed(exc, filename)]
    outcomes = [o for payload in payloads for o in _guarded(payload, ctx)]
    return outcomes or [Outcome("rejected", error="no report found")]


def crashed(exc: BaseException, filename: str) -> Outcome:
    """The outcome of a file that raised what no parser expects: logged here, named there."""
    log.error("unexpected error while processing %r", filename, exc_info=exc)
    return Outcome(
        "rejected", error=f"unexpected error while reading the file ({type(exc).__name__})"
    )


def _guarded(payload: Payload, ctx: Context) -> list[Outcome]:
    try:
        return _payload(payload, ctx)
    except (formats.FormatError, AggregateError, ReportParseError, NoRecords) as exc:
        kind = "aggregate" if isinstance(exc, (AggregateError, NoRecords)) else None
        return [Outcome("rejected", kind=kind, error=str(exc))]
    except SQLAlchemyError:
        raise
    except Exception as exc:  # the file's other reports go on
        return [crashed(exc, payload.name)]


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
        from msp.reports.batch import read_small

        data = read_small(payload.open)
        if data is not None:
            return ctx.batch.defer(data, ctx)
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
    assert where.tenant_id is not None and where.domain_id is not None
    with db.session.begin_nested():
        report_pk = claim_report(
            "aggregate", org, ext, domain, where, **report_fields(header, ctx.raw_id)
        )
        if report_pk is None:
            parser.close()
            return Outcome(
                "duplicate", "aggregate", org, ext, domain, where.tenant_id, where.domain_id
            )
        to = sink.target(
            where.tenant_id, where.domain_id, report_pk, domain, header.begin, header.end
        )
        if dialect() == "postgresql" and parse_process.available():
            parser.close()  # the child reads the payload again, from its start
            count, messages = parse_process.stream(payload.open, to)
        else:
            count, messages = stream_records(itertools.chain([first], records), to)
        db.session.execute(
            update(Report).where(Report.id == report_pk).values(records=count, messages=messages)
        )
    return Outcome(
        "ingested",
        "aggregate",
        org,
        ext,
        domain,
        where.tenant_id,
        where.domain_id,
        report_pk,
        count,
        messages,
    )


def report_fields(header: Header, raw_id: int) -> dict[str, Any]:
    """The columns of an aggregate report's row, besides its key and route."""
    return {
        "raw_id": raw_id,
        "begin": header.begin,
        "end": header.end,
        "email": cut(header.email, 320),
        "generator": cut(header.generator, 255),
        "policy": _policy_dict(header),
        "records": 0,
        "messages": 0,
    }


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """Raise the collector's first threshold while reports are ingested (threads may nest)."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(_gc_saved[0], _GC_THRESHOLD), *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)


def stream_records(records: Iterable[Record], to: sink.Target) -> tuple[int, int]:
    """Write one report's records as they are parsed; (records, messages).

    On PostgreSQL the writes run on a helper thread (COPY and upserts), so the database works
    while this thread parses the next chunk.
    """
    pg = dialect() == "postgresql"
    writer: bulk.BackgroundWriter | bulk.InlineWriter = (
        bulk.BackgroundWriter(bulk.connection()) if pg else bulk.InlineWriter(None)
    )
    with writer, fewer_gc_passes():
        out = sink.RecordSink(writer, postgresql=pg)
        for rec in records:
            out.add(rec, to)
        out.close()
    return out.records, out.messages


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


def overall_status(outcomes: list[Outcome]) -> str:
    statuses = {o.status for o in outcomes}
    return next(s for s in STATUS_PRIORITY if s in statuses)
