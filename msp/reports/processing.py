"""Processing stored raw files: lock, run the ingestion pipeline, record each file's outcome,
enqueue the enrichment of what was ingested, and re-enqueue what a crashed worker left pending.

Files are processed in batches (:func:`process_raws`, the one parse job's service) or alone
(:func:`process_raw`, the CLI's single file and the fallback when a batch fails). Nothing here
commits: the job or the command does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from msp.events import emit_event
from msp.extensions import db
from msp.queues import REPORTS, enqueue
from msp.reports import bulk, formats, ingest, pipeline, store
from msp.reports.batch import Batch
from msp.reports.config import ReportsConfig, current_config
from msp.reports.models import RawReport, ReportMailbox
from msp.reports.origin import Origin
from msp.reports.pipeline import Outcome

log = logging.getLogger(__name__)
# Raw ids per parse job: a job's fixed cost (its statements, its enrichment job's) is paid once
# per 100 files; a backlog still spreads over every worker.
PARSE_BUCKET = 100
ENRICH_BATCH = 200


def enqueue_parse_bucket(raw_id: int) -> None:
    """Enqueue the parse job of the id range a new file falls in (one job per 50 ids)."""
    bucket = raw_id // PARSE_BUCKET
    enqueue(
        "workers.reports.parse_raws",
        queue=REPORTS,
        job_id=f"parse-raws-{bucket}",
        first_id=bucket * PARSE_BUCKET,
        last_id=bucket * PARSE_BUCKET + PARSE_BUCKET - 1,
    )


def enqueue_parse(raw_id: int) -> None:
    """Parse one stored file again, with the one parse job (a range of one id)."""
    enqueue(
        "workers.reports.parse_raws",
        queue=REPORTS,
        job_id=f"parse-raw-{raw_id}",
        first_id=raw_id,
        last_id=raw_id,
    )


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


def _process_locked(
    raw: RawReport, cfg: ReportsConfig, batch: Batch | None, data: bytes | Path | None = None
) -> list[Outcome]:
    """Process one locked file; in a batch, its small reports wait for ``batch.settle()``.

    ``data`` is the file's bytes or path when the caller has them at hand (not read back
    from the store); otherwise the stored bytes are decompressed as they are read, never whole.
    """
    raw.attempts += 1
    ctx = pipeline.Context(
        raw_id=raw.id,
        limits=cfg.limits,
        reports_domain=cfg.reports_domain,
        recipients=(raw.recipient,) if raw.recipient else (),
        required_tenant_id=_required_tenant(raw),
        batch=batch,
    )
    try:
        source = formats.Source.of(store.open_raw(raw, cfg.object_store) if data is None else data)
    except (LookupError, OSError) as exc:
        outcomes = [Outcome("rejected", error=f"raw bytes unavailable: {exc}")]
    else:
        outcomes = ingest.process(source, raw.filename, ctx)
    if batch is None:
        _record_outcomes(raw, outcomes)
    return outcomes


def process_raws(
    raw_ids: list[int],
    *,
    config: ReportsConfig | None = None,
    at_hand: Mapping[int, bytes | Path] | None = None,
) -> dict[int, list[Outcome]]:
    """Parse several stored files as one batch; on a database error, one by one instead.

    Files another worker holds (row locks) or already processed are skipped. ``at_hand``: the
    bytes (or paths) of files the caller just stored, by raw id.
    """
    held = at_hand or {}
    cfg = config or current_config()
    stmt = (
        select(RawReport)
        .where(bulk.one_of(RawReport.id, raw_ids), RawReport.status == "pending")
        .order_by(RawReport.id)
        .with_for_update(skip_locked=True)
    )
    try:
        with db.session.begin_nested(), db.session.no_autoflush, pipeline.fewer_gc_passes():
            batch = Batch()
            raws = list(db.session.scalars(stmt))
            found = {raw.id: _process_locked(raw, cfg, batch, held.get(raw.id)) for raw in raws}
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
    enqueue_enrichment(
        [
            o.report_pk
            for outs in results.values()
            for o in outs
            if o.status == "ingested" and o.kind == "aggregate" and o.report_pk
        ]
    )
    return results


def tenants_touched(raw_ids: list[int], results: Mapping[int, list[Outcome]]) -> set[int]:
    """The tenants whose data processing these files changed: those their reports were routed
    to, and those the files themselves belong to (a tenant's upload or mailbox)."""
    tenants = {o.tenant_id for outs in results.values() for o in outs if o.tenant_id is not None}
    rows = db.session.execute(
        select(RawReport.tenant_id, ReportMailbox.tenant_id)
        .outerjoin(ReportMailbox, ReportMailbox.id == RawReport.mailbox_id)
        .where(bulk.one_of(RawReport.id, raw_ids))
    )
    tenants.update(t for pair in rows for t in pair if t is not None)
    return tenants


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


def enqueue_enrichment(report_ids: list[int]) -> None:
    """Enqueue the one enrichment job for these reports, ``ENRICH_BATCH`` reports per job."""
    for start in range(0, len(report_ids), ENRICH_BATCH):
        chunk = report_ids[start : start + ENRICH_BATCH]
        enqueue(
            "workers.reports.enrich_reports",
            queue=REPORTS,
            job_id=f"enrich-reports-{chunk[0]}-{chunk[-1]}",
            report_ids=chunk,
        )


def ingest_files(
    files: list[tuple[str, bytes | Path]],
    *,
    source: str,
    tenant_id: int | None = None,
    config: ReportsConfig | None = None,
) -> list[tuple[RawReport, list[Outcome]]]:
    """Store several files and process them as one batch in this transaction (CLI, bench).

    Each file is its bytes or its path (read in chunks, never whole: ``msp ingest``).
    """
    cfg = config or current_config()
    with pipeline.fewer_gc_passes():
        return _ingest_files(files, source, tenant_id, cfg)


def _ingest_files(
    files: list[tuple[str, bytes | Path]], source: str, tenant_id: int | None, cfg: ReportsConfig
) -> list[tuple[RawReport, list[Outcome]]]:
    raws = [
        store.store_raw(
            data,
            Origin(source, filename=name, tenant_id=tenant_id),
            object_store=cfg.object_store,
            flush=False,
        )
        for name, data in files
    ]
    db.session.flush()  # one multi-row INSERT for the whole batch
    at_hand = {raw.id: data for raw, (_name, data) in zip(raws, files, strict=True)}
    results = process_raws([raw.id for raw in raws], config=cfg, at_hand=at_hand)
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
    raw.status = pipeline.overall_status(outcomes)
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
        enqueue_enrichment(
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
    # At the head of the queue, oldest first (sent in reverse): see workers/recovery.py.
    for bucket in sorted({raw_id // PARSE_BUCKET for raw_id in ids}, reverse=True):
        first = bucket * PARSE_BUCKET
        enqueue(
            "workers.reports.parse_raws",
            queue=REPORTS,
            job_id=f"parse-raws-{bucket}{tag}",
            front=True,
            first_id=first,
            last_id=first + PARSE_BUCKET - 1,
        )
    return len(ids)
