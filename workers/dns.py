"""DNS posture jobs: check one domain, the sweep that enqueues the due ones, and the daily
retention purge of the posture history."""

from __future__ import annotations

from typing import Any

from flask import current_app

from msp.db import utcnow
from msp.dns import retention, service
from msp.queues import CHECKS
from workers.runtime import CronEntry, job


@job
def check_domain(domain_id: int, reported_selectors: list[str] | None = None) -> dict[str, Any]:
    """Check one domain's records and store the run; safe to run twice (a second run is a run)."""
    view = service.check_domain_now(domain_id, reported_selectors or ())
    return {"domain_id": domain_id, "run_id": view.run_id, "grade": view.grade}


@job
def sweep() -> dict[str, int]:
    """Enqueue a check for every due domain (deterministic job ids: no duplicates)."""
    return {"enqueued": len(service.sweep())}


@job
def purge_history() -> int:
    """Delete posture runs past ``MSP_DNS_HISTORY_RETENTION_DAYS`` (bounded chunks)."""
    days = int(current_app.config.get("MSP_DNS_HISTORY_RETENTION_DAYS") or 0)
    return retention.purge_history(days, utcnow())


CRON = [
    CronEntry(sweep, queue=CHECKS, interval=300),
    CronEntry(purge_history, queue=CHECKS, cron="23 3 * * *"),
]
