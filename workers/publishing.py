"""Publishing jobs: write one issued change's records through its DNS provider, and the
minute sweep that finds issued changes not yet written (or whose retry is due), so nothing
waits for a hand edit. Jobs take ids and call the publishing service; the wrapper commits.
"""

from __future__ import annotations

from msp.publishing import service
from msp.queues import DEFAULT, enqueue
from workers.runtime import CronEntry, job

SWEEP_INTERVAL = 60  # seconds


@job
def publish_change(change_id: int) -> str:
    """Write the change's records if its domain's mode says so; safe to run twice."""
    return service.publish_change(change_id)


@job
def sweep() -> int:
    """Fan out: one publish job per due change (a job id per change: no duplicates)."""
    ids = service.due_change_ids()
    for change_id in ids:
        enqueue(
            "workers.publishing.publish_change",
            queue=DEFAULT,
            job_id=f"publish-change-{change_id}",
            change_id=change_id,
        )
    return len(ids)


CRON: list[CronEntry] = [CronEntry(sweep, queue=DEFAULT, interval=SWEEP_INTERVAL)]
