"""Batched ingestion of small aggregate reports: parse all first, then route, claim and write.

Most reports are a few kilobytes. For those, per-report round trips (a routing query, a claim,
a savepoint, a COPY, roll-ups) cost more than the parse. In a batch, each small report is parsed
completely in memory as its file is met (a broken one is rejected there, before touching the
database) and :meth:`Batch.defer` hands back a ticket. :meth:`Batch.settle` then routes every
deferred report (one query per way of arrival), claims their keys with one
``INSERT .. ON CONFLICT DO NOTHING`` (fed by COPY on PostgreSQL), and writes records, roll-ups
and DKIM sightings through one :class:`~msp.reports.sink.RecordSink`. Large reports keep the
streaming path.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from msp.extensions import db
from msp.reports import bulk, sink
from msp.reports.aggregate import AggregateParser, Header, Record, parse_document
from msp.reports.models import Report
from msp.reports.pipeline import Context, Outcome, dialect, dialect_insert, report_fields
from msp.reports.routing import Route, route_many

SMALL_BYTES = 2 * 1024 * 1024
_KEY = ("org_name", "external_id", "policy_domain")
_SQLITE_ROWS = 40  # rows per multi-row INSERT: SQLite caps the bound parameters


@dataclass(frozen=True)
class Deferred:
    """A small report parsed in full, waiting for its batch."""

    ctx: Context
    header: Header
    records: list[Record]
    skip_reason: str | None

    @property
    def key(self) -> tuple[str, str, str]:
        """The once-only key, as the report table stores it."""
        return (
            self.header.org_name.lower()[:255],
            self.header.report_id[:255],
            self.header.policy.domain[:253],
        )

    @property
    def arrival(self) -> tuple[Any, ...]:
        return (self.ctx.recipients, self.ctx.reports_domain, self.ctx.required_tenant_id)

    def outcome(self, status: str, where: Route | None = None, **fields: Any) -> Outcome:
        org, ext, domain = self.key
        return Outcome(
            status,
            "aggregate",
            org,
            ext,
            domain,
            where.tenant_id if where else None,
            where.domain_id if where else None,
            **fields,
        )


@dataclass
class Batch:
    """The deferred reports of a batch, and a routing cache for its other reports."""

    deferred: list[Deferred] = field(default_factory=list)
    routes: dict[tuple[Any, ...], Route] = field(default_factory=dict)

    def defer(self, data: bytes, ctx: Context) -> Outcome:
        """Parse a small report now (errors raise here); its outcome comes from :meth:`settle`."""
        parsed = parse_document(data)
        if parsed is None:  # not well-formed: the streaming parser knows how to recover
            parser = AggregateParser(lambda: io.BytesIO(data), size_hint=len(data))
            parsed = parser.header, list(parser.records()), parser.stats
        header, records, stats = parsed
        self.deferred.append(Deferred(ctx, header, records, stats.first_skip_reason))
        return Outcome("deferred", "aggregate", ticket=len(self.deferred) - 1)

    def settle(self) -> list[Outcome]:
        """Route, claim and write every deferred report; their outcomes, by ticket."""
        deferred, self.deferred = self.deferred, []
        if not deferred:
            return []
        routes = _route(deferred)
        outcomes: list[Outcome | None] = [None] * len(deferred)
        claimable: dict[tuple[str, str, str], int] = {}
        for ticket, item in enumerate(deferred):
            where = routes[ticket]
            if where.status != "routed":
                outcomes[ticket] = item.outcome(where.status, error=where.reason)
            elif not item.records:
                reason = "report has no records" + (
                    f" ({item.skip_reason})" if item.skip_reason else ""
                )
                outcomes[ticket] = Outcome("rejected", "aggregate", error=reason)
            elif item.key in claimable:  # the same report twice in one batch
                outcomes[ticket] = item.outcome("duplicate", where)
            else:
                claimable[item.key] = ticket
        claimed = _claim([(deferred[t], routes[t]) for t in claimable.values()])
        _write([(deferred[t], routes[t], claimed[k]) for k, t in claimable.items() if k in claimed])
        for key, ticket in claimable.items():
            item, where = deferred[ticket], routes[ticket]
            if key not in claimed:
                outcomes[ticket] = item.outcome("duplicate", where)
                continue
            messages = sum(r.count for r in item.records)
            outcomes[ticket] = item.outcome(
                "ingested",
                where,
                report_pk=claimed[key],
                records=len(item.records),
                messages=messages,
            )
        settled = [o for o in outcomes if o is not None]
        assert len(settled) == len(deferred), "every deferred report gets an outcome"
        return settled


def _route(deferred: list[Deferred]) -> list[Route]:
    """Each deferred report's route: one lookup per way of arrival, not per report."""
    by_arrival: dict[tuple[Any, ...], dict[str, Route]] = {}
    for item in deferred:
        if item.arrival not in by_arrival:
            by_arrival[item.arrival] = {}
    for arrival in by_arrival:
        recipients, reports_domain, required = arrival
        names = [d.header.policy.domain for d in deferred if d.arrival == arrival]
        by_arrival[arrival] = route_many(
            names,
            recipients=recipients,
            reports_domain=reports_domain,
            required_tenant_id=required,
        )
    return [by_arrival[d.arrival][d.header.policy.domain] for d in deferred]


def _claim(items: list[tuple[Deferred, Route]]) -> dict[tuple[str, str, str], int]:
    """Insert the reports' rows unless their keys exist; the new ids by key."""
    now = datetime.now(UTC)
    rows = []
    for item, where in items:
        org, ext, domain = item.key
        rows.append(
            {
                "tenant_id": where.tenant_id,
                "domain_id": where.domain_id,
                "kind": "aggregate",
                "org_name": org,
                "external_id": ext,
                "policy_domain": domain,
                "created_at": now,
                "enriched": False,
                **report_fields(item.header, item.ctx.raw_id),
                "records": len(item.records),
                "messages": sum(r.count for r in item.records),
            }
        )
    if not rows:
        return {}
    if dialect() == "postgresql":
        columns = list(rows[0])
        policy = columns.index("policy")
        found = bulk.copy_upsert(
            bulk.connection(),
            "report",
            columns,
            (
                [*(json.dumps(v) if i == policy else v for i, v in enumerate(r.values()))]
                for r in rows
            ),
            conflict=_KEY,
            set_sql="NOTHING",
            returning="t.id, t.org_name, t.external_id, t.policy_domain",
        )
        return {(org, ext, domain): id_ for id_, org, ext, domain in found}
    table = Report.__table__
    claimed: dict[tuple[str, str, str], int] = {}
    for start in range(0, len(rows), _SQLITE_ROWS):
        stmt = (
            dialect_insert(table)
            .values(rows[start : start + _SQLITE_ROWS])
            .on_conflict_do_nothing(index_elements=list(_KEY))
            .returning(table.c.id, *(table.c[k] for k in _KEY))
        )
        for id_, org, ext, domain in db.session.execute(stmt):
            claimed[(org, ext, domain)] = id_
    return claimed


def _write(items: list[tuple[Deferred, Route, int]]) -> None:
    pg = dialect() == "postgresql"
    writer = bulk.InlineWriter(bulk.connection() if pg else None)
    out = sink.RecordSink(writer, postgresql=pg)
    for item, where, report_pk in items:
        assert where.tenant_id is not None and where.domain_id is not None
        header = item.header
        to = sink.target(
            where.tenant_id, where.domain_id, report_pk, item.key[2], header.begin, header.end
        )
        for rec in item.records:
            out.add(rec, to)
    out.close()


def read_small(opener: Any) -> bytes | None:
    """The payload's bytes when it is small enough for the batch path, else None."""
    with opener() as stream:
        data: bytes = stream.read(SMALL_BYTES + 1)
    return data if len(data) <= SMALL_BYTES else None
