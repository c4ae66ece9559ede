"""Policy jobs: the daily evaluation sweep (one job per domain), the watch sweep that moves
open changes along (issue at the change window, verify, remind), and the timeline's retention
purge. Jobs take ids and call the policy service; the job wrapper commits.
"""

from __future__ import annotations

from flask import current_app

from msp.db import utcnow
from msp.policy import retention, service
from msp.queues import DEFAULT, enqueue
from workers.runtime import CronEntry, job

EVALUATION_CRON = "15 4 * * *"  # daily, 04:15 UTC: after the night's reports are in
WATCH_INTERVAL = 900  # seconds between two looks at open changes
PURGE_CRON = "23 3 * * *"  # daily, 03:23 UTC: before the evaluations add the day's entries


@job
def evaluate_domain(domain_id: int, force: bool = False) -> str:
    """Evaluate one domain now: the daily sweep's is skipped if already done today; ``force``
    (after a DNS check, or asked by hand) evaluates again."""
    result = service.evaluate_domain(domain_id, force=force)
    return "skipped" if result is None else result.action.value


@job
def advance_change(change_id: int) -> str:
    """Make an open change's timed move (publish, verify, remind), if due."""
    return service.advance_change(change_id)


@job
def sweep_evaluations() -> int:
    """Fan out: one evaluation job per domain, with a job id per domain and day."""
    day = utcnow().strftime("%Y%m%d")
    ids = service.evaluable_domain_ids()
    for domain_id in ids:
        enqueue(
            "workers.policy.evaluate_domain",
            queue=DEFAULT,
            job_id=f"policy-evaluate-{domain_id}-{day}",
            domain_id=domain_id,
        )
    return len(ids)


@job
def sweep_changes() -> int:
    """Fan out: one job per open change with a timed move possibly due."""
    ids = service.due_change_ids()
    for change_id in ids:
        enqueue(
            "workers.policy.advance_change",
            queue=DEFAULT,
            job_id=f"policy-advance-{change_id}",
            change_id=change_id,
        )
    return len(ids)


@job
def purge_timeline() -> int:
    """Delete timeline entries past ``MSP_POLICY_TIMELINE_RETENTION_DAYS`` (bounded chunks)."""
    days = int(current_app.config.get("MSP_POLICY_TIMELINE_RETENTION_DAYS") or 0)
    return retention.purge_timeline(days, utcnow())


CRON: list[CronEntry] = [
    CronEntry(sweep_evaluations, queue=DEFAULT, cron=EVALUATION_CRON),
    CronEntry(sweep_changes, queue=DEFAULT, interval=WATCH_INTERVAL),
    CronEntry(purge_timeline, queue=DEFAULT, cron=PURGE_CRON),
]
