"""Sender enrichment, after ingestion: name each new source IP, then update the domain's senders.

Runs as its own job per report, with a time budget for reverse DNS; IPs it could not look up in
time keep their ASN-based name and are retried by the sweep. A sender seen for the first time on
a domain becomes a ``report_sender`` row and a ``sender.new`` event.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import case, func, or_, select, update

from msp.events import emit_event
from msp.extensions import db
from msp.reports import bulk, parsing, reverse_dns, summaries
from msp.reports.models import IpInfo, Report, ReportRecord, Sender
from msp.reports.pipeline import dialect_insert, fewer_gc_passes
from msp.reports.rollup import day_span
from msp.reports.senders import SenderIdentifier, SenderIdentity

_CHUNK = 5000


@dataclass(frozen=True)
class EnrichResult:
    ips_looked_up: int
    incomplete: int
    new_senders: tuple[str, ...]


def identifier_from_config() -> SenderIdentifier:
    """A SenderIdentifier for this process: catalogue and IP database opened once."""
    cached: SenderIdentifier | None = current_app.extensions.get("msp_reports_identifier")
    if cached is not None:
        return cached
    cfg = current_app.config
    ptr = None
    if cfg.get("MSP_REPORTS_ENRICH_DNS"):
        ptr = reverse_dns.ptr_resolver(
            cfg.get("MSP_REPORTS_DNS_NAMESERVERS"), int(cfg.get("MSP_REPORTS_DNS_PORT") or 53)
        )
    identifier = SenderIdentifier(
        catalogue=parsing.service_catalogue(),
        network=parsing.IpDatabase().lookup,
        base_domain=parsing.base_domain,
        ptr=ptr,
        cache_size=10_000,  # the database (report_ip_info) is the long-lived cache
    )
    current_app.extensions["msp_reports_identifier"] = identifier
    return identifier


def _pg() -> bool:
    return str(db.session.get_bind().dialect.name) == "postgresql"


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _needing_lookup(report_ids: Sequence[int]) -> list[str]:
    """The reports' distinct source IPs that are not yet named completely."""
    named = select(IpInfo.ip).where(IpInfo.ip == ReportRecord.source_ip, IpInfo.complete.is_(True))
    stmt = (
        select(ReportRecord.source_ip)
        .where(bulk.one_of(ReportRecord.report_id, report_ids), ~named.exists())
        .distinct()
    )
    return list(db.session.scalars(stmt))


IDENTITY_COLUMNS = (
    "ip",
    "sender_key",
    "sender_name",
    "service_type",
    "ptr",
    "base_domain",
    "asn",
    "as_name",
    "country",
    "complete",
)


def _identity_rows(identities: list[SenderIdentity]) -> list[tuple[Any, ...]]:
    return [
        (
            i.ip,
            i.key[:253],
            i.name[:255],
            i.service_type[:64] if i.service_type else None,
            i.ptr[:253] if i.ptr else i.ptr,
            i.base_domain,
            i.asn,
            i.as_name[:255] if i.as_name else i.as_name,
            i.country,
            i.complete,
        )
        for i in identities
    ]


def _copy_identities(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    bulk.copy_upsert(
        conn,
        "report_ip_info",
        IDENTITY_COLUMNS,
        rows,
        conflict=["ip"],
        set_sql="UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in (*IDENTITY_COLUMNS[1:], "looked_up_at")),
        computed={"looked_up_at": "now()"},
    )


def _insert_identities(_conn: Any, rows: list[tuple[Any, ...]]) -> None:
    now = datetime.now(UTC)
    stmt = dialect_insert(IpInfo)
    stmt = stmt.on_conflict_do_update(
        index_elements=["ip"],
        set_={c: stmt.excluded[c] for c in (*IDENTITY_COLUMNS[1:], "looked_up_at")},
    )
    items = [dict(zip(IDENTITY_COLUMNS, row, strict=True)) | {"looked_up_at": now} for row in rows]
    db.session.execute(stmt, items)


def _report_senders(report_ids: list[int]) -> list[Any]:
    """(tenant, domain, sender key, name, first day, last day) of the reports' senders."""
    rows = db.session.execute(
        select(
            ReportRecord.tenant_id,
            ReportRecord.domain_id,
            IpInfo.sender_key,
            func.max(IpInfo.sender_name),
            func.min(Report.begin),
            func.max(Report.end),
        )
        .join(IpInfo, ReportRecord.source_ip == IpInfo.ip)
        .join(Report, Report.id == ReportRecord.report_id)
        .where(bulk.one_of(ReportRecord.report_id, report_ids))
        .group_by(ReportRecord.tenant_id, ReportRecord.domain_id, IpInfo.sender_key)
    )
    return list(rows)


def _upsert_senders(found: list[Any]) -> list[tuple[int, int, str]]:
    """Insert new senders; widen first/last seen of known ones. Returns the new ones."""
    if not found:
        return []
    now = datetime.now(UTC)
    rows = []
    for tenant_id, domain_id, key, name, begin, end in found:
        first, last = day_span(begin, end)
        rows.append(
            {
                "tenant_id": tenant_id,
                "domain_id": domain_id,
                "key": key[:253],
                "name": name[:255],
                "status": "unknown",
                "first_seen": first,
                "last_seen": last,
                "created_at": now,
                "updated_at": now,
            }
        )
    if _pg():
        return _upsert_senders_pg(rows)
    stmt = (
        dialect_insert(Sender)
        .on_conflict_do_nothing(index_elements=["tenant_id", "domain_id", "key"])
        .returning(Sender.tenant_id, Sender.domain_id, Sender.key)
    )
    new = [(t, d, k) for t, d, k in db.session.execute(stmt, rows)]
    fresh = set(new)
    for row in rows:
        if (row["tenant_id"], row["domain_id"], row["key"]) in fresh:
            continue
        db.session.execute(
            update(Sender)
            .where(
                Sender.tenant_id == row["tenant_id"],
                Sender.domain_id == row["domain_id"],
                Sender.key == row["key"],
            )
            .values(
                first_seen=case(
                    (
                        or_(Sender.first_seen.is_(None), Sender.first_seen > row["first_seen"]),
                        row["first_seen"],
                    ),
                    else_=Sender.first_seen,
                ),
                last_seen=case(
                    (
                        or_(Sender.last_seen.is_(None), Sender.last_seen < row["last_seen"]),
                        row["last_seen"],
                    ),
                    else_=Sender.last_seen,
                ),
            )
        )
    return new


def _upsert_senders_pg(rows: list[dict[str, Any]]) -> list[tuple[int, int, str]]:
    columns = list(rows[0])
    unique = {(r["tenant_id"], r["domain_id"], r["key"]): r for r in rows}
    # xmax = 0 on the returned row means it was inserted, not updated.
    found = bulk.copy_upsert(
        bulk.connection(),
        "report_sender",
        columns,
        ([r[c] for c in columns] for r in unique.values()),
        conflict=["tenant_id", "domain_id", "key"],
        set_sql="UPDATE SET first_seen = LEAST(t.first_seen, EXCLUDED.first_seen), "
        "last_seen = GREATEST(t.last_seen, EXCLUDED.last_seen)",
        returning="t.tenant_id, t.domain_id, t.key, (t.xmax = 0)",
    )
    return [(tenant, domain, key) for tenant, domain, key, inserted in found if inserted]


def _announce(new: list[tuple[int, int, str]], names: dict[str, str]) -> None:
    """One ``sender.new`` event per domain, listing its new senders."""
    per_domain: dict[tuple[int, int], list[str]] = {}
    for tenant_id, domain_id, key in new:
        per_domain.setdefault((tenant_id, domain_id), []).append(key)
    for (tenant_id, domain_id), keys in per_domain.items():
        senders = [{"key": k, "name": names.get(k, k)} for k in sorted(keys)[:100]]
        emit_event(
            tenant_id,
            "sender.new",
            {"count": len(keys), "senders": senders},
            domain_id=domain_id,
            flush=False,
        )


def tenants_of(report_ids: list[int]) -> set[int]:
    """The tenants whose data enriching these reports changes."""
    return set(
        db.session.scalars(
            select(Report.tenant_id).where(bulk.one_of(Report.id, report_ids)).distinct()
        )
    )


def enrich_reports(
    report_ids: list[int], identifier: SenderIdentifier, budget_seconds: float
) -> EnrichResult:
    """Name the reports' source IPs and update their domains' senders (safe to run twice)."""
    with fewer_gc_passes():
        return _enrich(report_ids, identifier, budget_seconds)


def _enrich(
    report_ids: list[int], identifier: SenderIdentifier, budget_seconds: float
) -> EnrichResult:
    ids = list(
        db.session.scalars(
            select(Report.id).where(bulk.one_of(Report.id, report_ids), Report.kind == "aggregate")
        )
    )
    if not ids:
        return EnrichResult(0, 0, ())
    todo = _needing_lookup(ids)
    deadline = time.monotonic() + budget_seconds
    looked_up = incomplete = 0
    # In chunks, so a report with 200,000 source IPs never holds them all as objects; on
    # PostgreSQL each chunk is written by a helper thread while the next one is identified.
    pg = _pg()
    save = _copy_identities if pg else _insert_identities
    with bulk.BackgroundWriter(bulk.connection()) if pg else bulk.InlineWriter(None) as writer:
        for chunk in _chunks(todo):
            identities = identifier.identify_many(chunk, deadline=deadline)
            writer.submit(save, _identity_rows(identities))
            looked_up += len(identities)
            incomplete += sum(1 for i in identities if not i.complete)
    found = _report_senders(ids)
    new = _upsert_senders(found)
    _announce(new, {row[2]: row[3] for row in found})
    # The IPs have names now, so their messages may belong to senders with a verdict.
    summaries.recount_for_reports(ids)
    db.session.execute(
        update(Report).where(bulk.one_of(Report.id, ids)).values(enriched=incomplete == 0)
    )
    db.session.flush()
    return EnrichResult(looked_up, incomplete, tuple(k for _t, _d, k in new))


def enrich_report(
    report_id: int, identifier: SenderIdentifier, budget_seconds: float
) -> EnrichResult:
    """:func:`enrich_reports` for one report."""
    return enrich_reports([report_id], identifier, budget_seconds)
