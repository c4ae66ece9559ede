"""Sender enrichment, after ingestion: name each new source IP, then update the domain's senders.

Runs as its own job per report, with a time budget for reverse DNS; IPs it could not look up in
time keep their ASN-based name and are retried by the sweep. A sender seen for the first time on
a domain becomes a ``report_sender`` row and a ``sender.new`` event.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from flask import current_app
from sqlalchemy import case, func, or_, select, update

from msp.events import emit_event
from msp.extensions import db
from msp.reports import parsing, reverse_dns
from msp.reports.ingest import dialect_insert
from msp.reports.models import IpInfo, Report, ReportRecord, Sender
from msp.reports.rollup import report_days
from msp.reports.senders import SenderIdentifier, SenderIdentity

_CHUNK = 5000


@dataclass(frozen=True)
class EnrichResult:
    ips_looked_up: int
    incomplete: int
    new_senders: tuple[str, ...]


def identifier_from_config() -> SenderIdentifier:
    """A SenderIdentifier for this process: catalogue and IP database opened once."""
    cached = current_app.extensions.get("msp_reports_identifier")
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
    )
    current_app.extensions["msp_reports_identifier"] = identifier
    return identifier


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _needing_lookup(ips: Sequence[str]) -> list[str]:
    done: set[str] = set()
    for chunk in _chunks(ips):
        done.update(
            db.session.scalars(
                select(IpInfo.ip).where(IpInfo.ip.in_(chunk), IpInfo.complete.is_(True))
            )
        )
    return [ip for ip in ips if ip not in done]


def _save_identities(identities: list[SenderIdentity]) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "ip": i.ip,
            "sender_key": i.key[:253],
            "sender_name": i.name[:255],
            "service_type": (i.service_type or None) and i.service_type[:64],
            "ptr": i.ptr and i.ptr[:253],
            "base_domain": i.base_domain,
            "asn": i.asn,
            "as_name": i.as_name and i.as_name[:255],
            "country": i.country,
            "complete": i.complete,
            "looked_up_at": now,
        }
        for i in identities
    ]
    for start in range(0, len(rows), _CHUNK):
        stmt = dialect_insert(IpInfo)
        stmt = stmt.on_conflict_do_update(
            index_elements=["ip"],
            set_={c: stmt.excluded[c] for c in rows[0] if c != "ip"},
        )
        db.session.execute(stmt, rows[start : start + _CHUNK])


def _report_senders(report: Report) -> list[tuple[str, str]]:
    rows = db.session.execute(
        select(IpInfo.sender_key, func.max(IpInfo.sender_name))
        .join(ReportRecord, ReportRecord.source_ip == IpInfo.ip)
        .where(ReportRecord.tenant_id == report.tenant_id, ReportRecord.report_id == report.id)
        .group_by(IpInfo.sender_key)
    )
    return [(key, name) for key, name in rows]


def _upsert_senders(
    report: Report, senders: list[tuple[str, str]], first: date, last: date
) -> list[str]:
    if not senders:
        return []
    rows = [
        {
            "tenant_id": report.tenant_id,
            "domain_id": report.domain_id,
            "key": key,
            "name": name,
            "status": "unknown",
            "first_seen": first,
            "last_seen": last,
            "created_at": datetime.now(UTC),
            "updated_at": datetime.now(UTC),
        }
        for key, name in senders
    ]
    stmt = (
        dialect_insert(Sender)
        .on_conflict_do_nothing(index_elements=["tenant_id", "domain_id", "key"])
        .returning(Sender.key)
    )
    new = list(db.session.execute(stmt, rows).scalars())
    keys = [key for key, _name in senders]
    db.session.execute(
        update(Sender)
        .where(
            Sender.tenant_id == report.tenant_id,
            Sender.domain_id == report.domain_id,
            Sender.key.in_(keys),
        )
        .values(
            first_seen=case(
                (or_(Sender.first_seen.is_(None), Sender.first_seen > first), first),
                else_=Sender.first_seen,
            ),
            last_seen=case(
                (or_(Sender.last_seen.is_(None), Sender.last_seen < last), last),
                else_=Sender.last_seen,
            ),
        )
    )
    return new


def enrich_report(
    report_id: int, identifier: SenderIdentifier, budget_seconds: float
) -> EnrichResult:
    """Name the report's source IPs and update its domain's senders (safe to run twice)."""
    report = db.session.get(Report, report_id)
    if report is None or report.kind != "aggregate":
        return EnrichResult(0, 0, ())
    ips = list(
        db.session.scalars(
            select(ReportRecord.source_ip)
            .where(ReportRecord.tenant_id == report.tenant_id, ReportRecord.report_id == report.id)
            .distinct()
        )
    )
    todo = _needing_lookup(ips)
    identities = identifier.identify_many(todo, deadline=time.monotonic() + budget_seconds)
    if identities:
        _save_identities(identities)
    days = report_days(report.begin, report.end)
    new = _upsert_senders(report, _report_senders(report), days[0][0], days[-1][0])
    for key in new:
        emit_event(
            report.tenant_id,
            "sender.new",
            {"key": key, "report_id": report.id},
            domain_id=report.domain_id,
        )
    incomplete = sum(1 for i in identities if not i.complete)
    report.enriched = incomplete == 0
    db.session.flush()
    return EnrichResult(len(identities), incomplete, tuple(new))
