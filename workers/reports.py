"""Report jobs: parse stored files (one job, for a range of ids), enrich reports, route after
a new domain, poll mailboxes, and the sweeps that re-enqueue stalled work. Jobs take ids and
call one service each.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from msp import generation
from msp.domains.models import Domain
from msp.extensions import db
from msp.queues import REPORTS, enqueue
from msp.reports import enrichment, mailboxes, processing, service
from msp.reports.models import FailureReportRow, Report
from workers.runtime import CronEntry, job


@job
def parse_raws(first_id: int, last_id: int) -> dict[str, int]:
    """Parse the pending stored files with ids in [first_id, last_id] as one batch.

    It looks again until none is left, so a file committed while the batch ran is not left
    to the sweep (each statement sees newly committed rows).
    """
    done = 0
    # What the files write is the data of the tenants they reach (msp.generation): the pages of
    # other tenants stay cached meanwhile.
    with generation.attributed() as tenants:
        for _round in range(20):  # bounded: each round empties the range unless files keep coming
            ids = service.pending_raw_ids(first_id, last_id)
            if not ids:
                break
            results = service.process_raws(ids)
            done += len(results)
            tenants.update(service.tenants_touched(ids, results))
    return {"processed": done}


@job
def enrich_reports(report_ids: list[int]) -> dict[str, object]:
    """Name the source IPs of several reports and update their domains' senders."""
    budget = float(current_app.config["MSP_REPORTS_ENRICH_SECONDS"])
    # The reports' tenants' data only. IP names are shared: another tenant's kept page that
    # shows an IP this job names (or names better, after a reverse-DNS retry) is redrawn at
    # its own reports' enrichment, or once it ages (MSP_PAGE_CACHE_SECONDS).
    with generation.attributed(enrichment.tenants_of(report_ids)):
        result = enrichment.enrich_reports(report_ids, enrichment.identifier_from_config(), budget)
    return {
        "reports": len(report_ids),
        "looked_up": result.ips_looked_up,
        "new_senders": len(result.new_senders),
    }


@job
def route_unrouted_for_domain(domain_id: int) -> int:
    """A domain was added: re-run the files that were waiting for it."""
    domain = db.session.get(Domain, domain_id)
    return service.route_pending(domain) if domain is not None else 0


@job
def poll_mailbox(mailbox_id: int) -> dict[str, object]:
    """Fetch one batch from one mailbox (its failure does not touch other mailboxes)."""
    result = mailboxes.poll(mailbox_id)
    return {"fetched": result.fetched, "stored": result.stored, "error": result.error}


@job
def archive_mailbox_messages(mailbox_id: int, uids: list[str]) -> int:
    """Move stored messages to the archive folder (runs after their rows are committed)."""
    return mailboxes.archive(mailbox_id, uids)


@job
def sweep_mailboxes() -> int:
    """Enqueue a poll for every mailbox that is due."""
    due = mailboxes.due_mailboxes(datetime.now(UTC))
    bucket = int(datetime.now(UTC).timestamp() // 60)
    for mailbox_id in due:
        enqueue(
            "workers.reports.poll_mailbox",
            queue=REPORTS,
            job_id=f"poll-mailbox-{mailbox_id}-{bucket}",
            mailbox_id=mailbox_id,
        )
    return len(due)


@job
def sweep_stale_reports() -> int:
    """Re-enqueue raw files left pending by a crashed worker."""
    return service.requeue_stale()


@job
def sweep_unenriched_reports() -> int:
    """Re-enqueue enrichment for reports whose IPs were not all named yet."""
    cutoff = datetime.now(UTC) - timedelta(minutes=30)
    ids = list(
        db.session.scalars(
            select(Report.id)
            .where(
                Report.kind == "aggregate", Report.enriched.is_(False), Report.created_at <= cutoff
            )
            .order_by(Report.id)
            .limit(1000)
        )
    )
    # The same job as after ingestion (its id dedupes a sweep that overlaps a waiting job).
    processing.enqueue_enrichment(ids)
    return len(ids)


@job
def purge_expired_failure_reports() -> int:
    """Delete failure reports past their tenant's retention period."""
    result = db.session.execute(
        delete(FailureReportRow).where(FailureReportRow.expires_at < datetime.now(UTC))
    )
    return int(getattr(result, "rowcount", 0) or 0)


CRON: list[CronEntry] = [
    CronEntry(sweep_mailboxes, queue=REPORTS, interval=60),
    CronEntry(sweep_stale_reports, queue=REPORTS, interval=300),
    CronEntry(sweep_unenriched_reports, queue=REPORTS, interval=900),
    CronEntry(purge_expired_failure_reports, queue=REPORTS, cron="17 3 * * *"),
]
