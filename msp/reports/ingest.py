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

import itertools
import logging
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from msp.extensions import db
from msp.reports import bulk, formats, parse_process, sink
from msp.reports.aggregate import AggregateError, AggregateParser, Record
from msp.reports.batch import read_small
from msp.reports.formats import Payload
from msp.reports.models import Report
from msp.reports.parsing import (
    ReportParseError,
    TlsReport,
    parse_report_email,
    parse_tls_json,
)
from msp.reports.pipeline import (
    Context,
    NoRecords,
    Outcome,
    claim_report,
    dialect,
    fewer_gc_passes,
    not_routed,
    report_fields,
    route_for,
)
from msp.reports.tls_failure import ingest_failure, ingest_tls

log = logging.getLogger(__name__)


def process(data: bytes | formats.Source, filename: str, ctx: Context) -> list[Outcome]:
    """Every report in one file, each ingested, deduplicated, left unrouted or rejected.

    ``data``: the file's bytes, or a stream of them (a file on disk, stored bytes decompressed
    as they are read): a large report is then parsed as it is read, never held whole.

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
        return [ingest_tls(parse_tls_json(payload.read()), ctx)]
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


def ingest_aggregate(payload: Payload, ctx: Context) -> Outcome:
    if ctx.batch is not None:
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
