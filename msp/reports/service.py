"""The reports area's service: receive raw files, process them, route later, reprocess.

Callers (API, CLI, jobs) come here; this module decides what is stored, what is enqueued and
which events are emitted, and never commits. The read side used by the policy engine and the DNS
checker (``sender_stats``, ``coverage``, ``daily_rows``, ``learnt_dkim_selectors``) lives in
:mod:`msp.reports.queries` and is re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from msp.auth.audit import audit
from msp.auth.principal import Principal
from msp.domains.models import Domain
from msp.errors import BadRequest, Forbidden, NotFound, ValidationFailed
from msp.events import emit_event
from msp.extensions import db
from msp.queues import REPORTS, enqueue
from msp.reports import bulk, ingest, store
from msp.reports.batch import Batch
from msp.reports.formats import Limits
from msp.reports.ingest import Outcome
from msp.reports.models import SENDER_STATUSES, RawReport, ReportMailbox, Sender
from msp.reports.queries import (
    Coverage,
    DailyRow,
    SenderPage,
    SenderStat,
    TlsPage,
    TlsStat,
    coverage,
    daily_rows,
    learnt_dkim_selectors,
    sender_page,
    sender_stats,
    tls_page,
    tls_summary,
)
from msp.reports.sender_queries import known_sender_keys, well_formed_key
from msp.tenancy.models import Tenant

__all__ = [
    "Coverage",
    "DailyRow",
    "Outcome",
    "ReportsConfig",
    "SenderPage",
    "SenderStat",
    "TlsPage",
    "TlsStat",
    "coverage",
    "daily_rows",
    "ingest_files",
    "ingest_now",
    "learnt_dkim_selectors",
    "process_raw",
    "process_raws",
    "receive",
    "receive_many",
    "reprocess",
    "requeue_stale",
    "route_pending",
    "sender_page",
    "sender_stats",
    "set_sender_status",
    "tls_page",
    "tls_summary",
    "upload_tenant",
]


log = logging.getLogger(__name__)
PARSE_BUCKET = 50  # raw ids per parse job: one job (one fork, one connection) per 50 files
ENRICH_BATCH = 200


@dataclass(frozen=True)
class ReportsConfig:
    """The reports settings a service call needs, read once from the app config."""

    limits: Limits
    reports_domain: str | None
    object_store: store.ObjectStore | None
    stale_minutes: int

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> ReportsConfig:
        return cls(
            limits=Limits(
                max_input_bytes=int(config["MSP_REPORTS_MAX_FILE_BYTES"]),
                max_unpacked_bytes=int(config["MSP_REPORTS_MAX_UNPACKED_BYTES"]),
                max_ratio=int(config["MSP_REPORTS_MAX_RATIO"]),
            ),
            reports_domain=config.get("MSP_REPORTS_DOMAIN"),
            object_store=store.object_store_from_setting(config.get("MSP_REPORTS_STORE")),
            stale_minutes=int(config["MSP_REPORTS_STALE_MINUTES"]),
        )


def current_config() -> ReportsConfig:
    return ReportsConfig.from_mapping(current_app.config)


def enqueue_parse(raw_id: int, retry_tag: str = "") -> None:
    enqueue(
        "workers.reports.parse_raw",
        queue=REPORTS,
        job_id=f"parse-raw-{raw_id}{retry_tag}",
        raw_id=raw_id,
    )


def receive(
    data: bytes,
    *,
    source: str,
    filename: str = "",
    recipient: str | None = None,
    tenant_id: int | None = None,
    mailbox_id: int | None = None,
    mailbox_uid: str | None = None,
    config: ReportsConfig | None = None,
) -> RawReport:
    """Store one received file and enqueue its parse (sent when the transaction commits)."""
    cfg = config or current_config()
    raw = store.store_raw(
        data,
        source=source,
        filename=filename,
        recipient=recipient,
        tenant_id=tenant_id,
        mailbox_id=mailbox_id,
        mailbox_uid=mailbox_uid,
        object_store=cfg.object_store,
    )
    bucket = raw.id // PARSE_BUCKET
    enqueue(
        "workers.reports.parse_raws",
        queue=REPORTS,
        job_id=f"parse-raws-{bucket}",
        first_id=bucket * PARSE_BUCKET,
        last_id=bucket * PARSE_BUCKET + PARSE_BUCKET - 1,
    )
    return raw


def ingest_now(
    data: bytes,
    *,
    source: str,
    filename: str = "",
    tenant_id: int | None = None,
    recipient: str | None = None,
    config: ReportsConfig | None = None,
) -> tuple[RawReport, list[Outcome]]:
    """Store one file and process it in this transaction (the CLI's path; no parse job)."""
    cfg = config or current_config()
    raw = store.store_raw(
        data,
        source=source,
        filename=filename,
        recipient=recipient,
        tenant_id=tenant_id,
        object_store=cfg.object_store,
    )
    return raw, process_raw(raw.id, config=cfg)


def _lock_raw(raw_id: int) -> RawReport | None:
    stmt = select(RawReport).where(RawReport.id == raw_id).with_for_update(skip_locked=True)
    return db.session.scalar(stmt)


def process_raw(
    raw_id: int, *, force: bool = False, config: ReportsConfig | None = None
) -> list[Outcome]:
    """Parse a stored file now. Safe to run twice: a processed file is left alone."""
    cfg = config or current_config()
    raw = _lock_raw(raw_id)
    if raw is None or (raw.status != "pending" and not force):
        return []
    return _process_locked(raw, cfg, None)


def _process_locked(raw: RawReport, cfg: ReportsConfig, batch: Batch | None) -> list[Outcome]:
    """Process one locked file; in a batch, its small reports wait for ``batch.settle()``."""
    raw.attempts += 1
    ctx = ingest.Context(
        raw_id=raw.id,
        limits=cfg.limits,
        reports_domain=cfg.reports_domain,
        recipients=(raw.recipient,) if raw.recipient else (),
        required_tenant_id=_required_tenant(raw),
        batch=batch,
    )
    try:
        data = store.load_raw(raw, cfg.object_store)
    except (LookupError, OSError) as exc:
        outcomes = [Outcome("rejected", error=f"raw bytes unavailable: {exc}")]
    else:
        outcomes = ingest.process(data, raw.filename, ctx)
    if batch is None:
        _record_outcomes(raw, outcomes)
    return outcomes


def process_raws(
    raw_ids: list[int], *, config: ReportsConfig | None = None
) -> dict[int, list[Outcome]]:
    """Parse several stored files as one batch; on a database error, one by one instead.

    Files another worker holds (row locks) or already processed are skipped.
    """
    cfg = config or current_config()
    stmt = (
        select(RawReport)
        .where(bulk.one_of(RawReport.id, raw_ids), RawReport.status == "pending")
        .order_by(RawReport.id)
        .with_for_update(skip_locked=True)
    )
    try:
        with db.session.begin_nested(), db.session.no_autoflush, ingest.fewer_gc_passes():
            batch = Batch()
            raws = list(db.session.scalars(stmt))
            found = {raw.id: _process_locked(raw, cfg, batch) for raw in raws}
            settled = batch.settle()
            results = {
                raw_id: [settled[o.ticket] if o.ticket is not None else o for o in outcomes]
                for raw_id, outcomes in found.items()
            }
            for raw in raws:
                _record_outcomes(raw, results[raw.id], enrich=False)
            db.session.flush()
    except Exception:  # a database error or a bug: each file gets its own go
        log.exception("batch of %d raw reports failed; processing them one by one", len(raw_ids))
        results = {raw_id: _process_alone(raw_id, cfg) for raw_id in raw_ids}
    _enqueue_enrichment(
        [
            o.report_pk
            for outs in results.values()
            for o in outs
            if o.status == "ingested" and o.kind == "aggregate" and o.report_pk
        ]
    )
    return results


def pending_raw_ids(first_id: int, last_id: int, limit: int = PARSE_BUCKET) -> list[int]:
    """Ids of pending files in an id range (not locked by another worker)."""
    stmt = (
        select(RawReport.id)
        .where(RawReport.id.between(first_id, last_id), RawReport.status == "pending")
        .order_by(RawReport.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(db.session.scalars(stmt))


def _process_alone(raw_id: int, cfg: ReportsConfig) -> list[Outcome]:
    """One file in its own savepoint; if even that raises, the file is rejected, not retried."""
    try:
        with db.session.begin_nested():
            return process_raw(raw_id, config=cfg)
    except Exception as exc:  # a rejected file, never a job retried for ever
        log.exception("raw report %d failed on its own", raw_id)
        what = "database error" if isinstance(exc, SQLAlchemyError) else "unexpected error"
        error = f"{what}: {type(exc).__name__}"
        raw = db.session.get(RawReport, raw_id)
        if raw is not None:
            raw.status, raw.error = "rejected", error
            raw.processed_at = datetime.now(UTC)
            db.session.flush()
        return [Outcome("rejected", error=error)]


def _enqueue_enrichment(report_ids: list[int]) -> None:
    for start in range(0, len(report_ids), ENRICH_BATCH):
        chunk = report_ids[start : start + ENRICH_BATCH]
        enqueue(
            "workers.reports.enrich_reports",
            queue=REPORTS,
            job_id=f"enrich-reports-{chunk[0]}-{chunk[-1]}",
            report_ids=chunk,
        )


def ingest_files(
    files: list[tuple[str, bytes]],
    *,
    source: str,
    tenant_id: int | None = None,
    config: ReportsConfig | None = None,
) -> list[tuple[RawReport, list[Outcome]]]:
    """Store several files and process them as one batch in this transaction (CLI, bench)."""
    cfg = config or current_config()
    with ingest.fewer_gc_passes():
        return _ingest_files(files, source, tenant_id, cfg)


def _ingest_files(
    files: list[tuple[str, bytes]], source: str, tenant_id: int | None, cfg: ReportsConfig
) -> list[tuple[RawReport, list[Outcome]]]:
    raws = [
        store.store_raw(
            data,
            source=source,
            filename=name,
            tenant_id=tenant_id,
            object_store=cfg.object_store,
            flush=False,
        )
        for name, data in files
    ]
    db.session.flush()  # one multi-row INSERT for the whole batch
    results = process_raws([raw.id for raw in raws], config=cfg)
    return [(raw, results.get(raw.id, [])) for raw in raws]


def _required_tenant(raw: RawReport) -> int | None:
    """A tenant's upload or mailbox may only feed that tenant's domains."""
    if raw.source == "upload":
        return raw.tenant_id
    if raw.mailbox_id is not None:
        mailbox = db.session.get(ReportMailbox, raw.mailbox_id)
        return mailbox.tenant_id if mailbox is not None else None
    return None


def _record_outcomes(raw: RawReport, outcomes: list[Outcome], *, enrich: bool = True) -> None:
    first = next((o for o in outcomes if o.status != "rejected"), outcomes[0])
    raw.status = ingest.overall_status(outcomes)
    raw.kind = first.kind
    raw.org_name = (first.org_name or "")[:255] or None
    raw.external_id = (first.external_id or "")[:255] or None
    raw.domain = (first.domain or "")[:253] or None
    raw.records = sum(o.records for o in outcomes)
    errors = [o.error for o in outcomes if o.error and o.status != "ingested"]
    raw.error = "; ".join(errors)[:4000] or None
    raw.processed_at = datetime.now(UTC)
    routed = next((o.tenant_id for o in outcomes if o.tenant_id is not None), None)
    if raw.tenant_id is None and raw.status != "unrouted":
        raw.tenant_id = routed
    if enrich:
        _enqueue_enrichment(
            [
                o.report_pk
                for o in outcomes
                if o.status == "ingested" and o.kind == "aggregate" and o.report_pk
            ]
        )
    if raw.status == "rejected" and raw.tenant_id is not None:
        emit_event(
            raw.tenant_id,
            "report.rejected",
            {"raw_id": raw.id, "filename": raw.filename, "error": raw.error},
            severity="warning",
        )
    if enrich:  # a batch flushes all its files' updates at once
        db.session.flush()


def reprocess(raw: RawReport) -> RawReport:
    """Put a rejected or unrouted file back in the queue (after a fix, or a new domain)."""
    raw.status = "pending"
    raw.error = None
    enqueue_parse(raw.id)
    db.session.flush()
    audit("report.reprocess", "report_raw", raw.id, tenant_id=raw.tenant_id)
    return raw


def route_pending(domain: Domain) -> int:
    """Re-run every unrouted file about ``domain`` or its subdomains; how many were queued."""
    stmt = select(RawReport).where(
        RawReport.status == "unrouted",
        or_(RawReport.domain == domain.name, RawReport.domain.like(f"%.{domain.name}")),
    )
    raws = list(db.session.scalars(stmt))
    for raw in raws:
        reprocess(raw)
    return len(raws)


def requeue_stale(now: datetime | None = None, minutes: int | None = None) -> int:
    """Re-enqueue files still pending after ``minutes`` (a crashed worker's batch)."""
    cfg_minutes = minutes if minutes is not None else current_config().stale_minutes
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(minutes=cfg_minutes)
    # A killed worker leaves its RQ job marked "started", which blocks the original job id;
    # a retry id per sweep gets through, and the row lock makes any overlap harmless.
    tag = f"-retry-{int(now.timestamp())}"
    ids = list(
        db.session.scalars(
            select(RawReport.id)
            .where(RawReport.status == "pending", RawReport.received_at <= cutoff)
            .order_by(RawReport.id)
            .limit(10_000)
        )
    )
    for bucket in sorted({raw_id // PARSE_BUCKET for raw_id in ids}):
        first = bucket * PARSE_BUCKET
        enqueue(
            "workers.reports.parse_raws",
            queue=REPORTS,
            job_id=f"parse-raws-{bucket}{tag}",
            first_id=first,
            last_id=first + PARSE_BUCKET - 1,
        )
    return len(ids)


def upload_tenant(principal: Principal, tenant_id: int | None) -> int | None:
    """The tenant an upload is restricted to: None (route anywhere) only for MSP staff who
    reach every tenant; anyone else writes only where they may manage (the same reach as reads).
    """
    if tenant_id is not None:
        if not principal.reaches(tenant_id) or db.session.get(Tenant, tenant_id) is None:
            raise NotFound(f"tenant {tenant_id} not found")
        if not principal.can_manage(tenant_id):
            raise Forbidden("you may view but not upload reports for this tenant")
        return tenant_id
    if principal.is_msp and principal.all_tenants:
        return None
    manageable = [t for t in principal.tenant_roles if principal.can_manage(t)]
    if len(manageable) != 1:
        raise BadRequest("say which tenant the reports are for (tenant_id)")
    return manageable[0]


def receive_many(files: list[tuple[str, bytes]], *, tenant_id: int | None) -> list[RawReport]:
    """Store several uploaded files; each gets its own parse job."""
    cfg = current_config()
    files = [(name, data) for name, data in files if data]
    if not files:
        raise BadRequest("no report file (or only empty ones) in the request")
    return [
        receive(data, source="upload", filename=name, tenant_id=tenant_id, config=cfg)
        for name, data in files
    ]


def set_sender_status(domain: Domain, key: str, status: str, note: str | None = None) -> Sender:
    """The tenant's verdict on a sender: approved, forwarder, abuse (or back to unknown)."""
    if status not in SENDER_STATUSES:
        raise ValidationFailed(
            f"status must be one of {', '.join(SENDER_STATUSES)}", errors={"status": ["invalid"]}
        )
    if not well_formed_key(key):
        raise ValidationFailed("not a sender key", errors={"key": ["malformed"]})
    sender = db.session.scalar(
        select(Sender).where(
            Sender.tenant_id == domain.tenant_id, Sender.domain_id == domain.id, Sender.key == key
        )
    )
    if sender is None:
        if key not in known_sender_keys(domain.id, [key]):
            raise NotFound(f"no sender {key} has been seen for {domain.name}")
        name = key.removeprefix("ip:")
        sender = Sender(
            tenant_id=domain.tenant_id, domain_id=domain.id, key=key[:253], name=name[:255]
        )
        db.session.add(sender)
    sender.status = status
    if note is not None:
        sender.note = note
    db.session.flush()
    audit(
        "sender.verdict",
        "sender",
        key,
        tenant_id=domain.tenant_id,
        changes={"domain": domain.name, "status": status, "note": note},
    )
    return sender
