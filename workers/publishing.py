"""Publishing jobs: write one issued change's records through its DNS provider, and the
minute sweep that finds issued changes not yet written (or whose retry is due), so nothing
waits for a hand edit. Jobs take ids and call the publishing service; the wrapper commits.
"""

from __future__ import annotations

from msp.publishing import hosted, service
from msp.queues import DEFAULT, enqueue
from workers.runtime import CronEntry, job

SWEEP_INTERVAL = 60  # seconds
TRANSPORT_CRON = "41 * * * *"  # hourly: MTA-STS ids follow the MX hosts the checks find


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


@job
def publish_transport(domain_id: int) -> int:
    """Write a delegated domain's MTA-STS id and TLS-RPT records if they changed."""
    return len(hosted.publish_transport(domain_id))


@job
def sweep_transport() -> int:
    """Fan out: one transport job per delegated domain with an MTA-STS policy."""
    ids = hosted.transport_domain_ids()
    for domain_id in ids:
        enqueue(
            "workers.publishing.publish_transport",
            queue=DEFAULT,
            job_id=f"publish-transport-{domain_id}",
            domain_id=domain_id,
        )
    return len(ids)


CRON: list[CronEntry] = [
    CronEntry(sweep, queue=DEFAULT, interval=SWEEP_INTERVAL),
    CronEntry(sweep_transport, queue=DEFAULT, cron=TRANSPORT_CRON),
]
