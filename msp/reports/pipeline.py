"""The shared vocabulary of the ingestion pipeline, below :mod:`~msp.reports.ingest`,
:mod:`~msp.reports.batch` and :mod:`~msp.reports.tls_failure` (which import it, never each
other's internals): what the pipeline knows while it handles one file (:class:`Context`; where
the file came from is :class:`msp.reports.origin.Origin`), what became of each report
(:class:`Outcome`), routing with the batch's cache, the once-only claim of a report's key, the
aggregate report row's columns, the SQL dialect helpers and the collector relaxation used while
reports stream.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.dialects import postgresql, sqlite

from msp.extensions import db
from msp.reports.aggregate import Header
from msp.reports.formats import Limits
from msp.reports.models import Report
from msp.reports.routing import Route, route

STATUS_PRIORITY = ("unrouted", "ingested", "duplicate", "rejected")
# While a report streams, the collector runs every 50,000 allocations instead of every 700:
# the parse allocates millions of short-lived objects and no cycles (measured: -25% per record).
_GC_THRESHOLD = 50_000
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, ...] = gc.get_threshold()


class NoRecords(ValueError):
    """An aggregate report without a single usable record."""


class Deferrer(Protocol):
    """What the pipeline asks of a batch (:class:`msp.reports.batch.Batch`): a route cache,
    and taking a small report to write later with the others."""

    routes: dict[tuple[Any, ...], Route]

    def defer(self, data: bytes, ctx: Context) -> Outcome: ...


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
    batch: Deferrer | None = None


def dialect() -> str:
    return str(db.session.get_bind().dialect.name)


def dialect_insert(model: Any) -> Any:
    return (postgresql.insert if dialect() == "postgresql" else sqlite.insert)(model)


def cut(value: str | None, size: int) -> str | None:
    return value[:size] if value else value


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
