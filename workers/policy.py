"""Policy jobs: the daily evaluation sweep (one job per batch of domains), the watch sweep that
moves open changes along (issue at the change window, verify, remind), and the timeline's retention
purge. Jobs take ids and call the policy service; the job wrapper commits.
"""

from __future__ import annotations

import logging

from flask import current_app

from msp.db import utcnow
from msp.extensions import db
from msp.policy import retention, service
from msp.queues import DEFAULT, enqueue
from workers.runtime import CronEntry, job

EVALUATION_CRON = "15 4 * * *"  # daily, 04:15 UTC: after the night's reports are in
WATCH_INTERVAL = 900  # seconds between two looks at open changes
PURGE_CRON = "23 3 * * *"  # daily, 03:23 UTC: before the evaluations add the day's entries
# Domains per evaluation job of the daily sweep. A job per domain paid a forked work horse, a
# new database connection and cold statement caches for each (659 ms a domain inside RQ against
# 106 ms in one process at 10 M rows, bench/RESULTS.md); a batch pays them once.
EVALUATION_BATCH = 50

log = logging.getLogger(__name__)


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
def evaluate_domains(domain_ids: list[int]) -> dict[str, int]:
    """The daily sweep's batch: each domain evaluated in a savepoint of its own, so one
    domain's failure neither undoes nor stops the others (the batch commits once); a domain
    that failed gets a job of its own (RQ's retries, and a failed job an operator sees). A
    batch run twice skips the domains already evaluated today."""
    done = {"evaluated": 0, "skipped": 0, "failed": 0}
    for domain_id in domain_ids:
        try:
            with db.session.begin_nested():  # a failure undoes this domain's writes only
                result = service.evaluate_domain(domain_id)
        except Exception:
            log.exception("evaluation of domain %s failed; queued on its own", domain_id)
            done["failed"] += 1
            enqueue(
                "workers.policy.evaluate_domain",
                queue=DEFAULT,
                job_id=f"policy-evaluate-{domain_id}-{utcnow():%Y%m%d}",
                domain_id=domain_id,
            )
            continue
        done["skipped" if result is None else "evaluated"] += 1
    return done


@job
def sweep_evaluations() -> int:
    """Fan out: one evaluation job per batch of ``EVALUATION_BATCH`` domains, with a job id
    per batch and day (a second sweep the same day queues nothing new while they wait)."""
    day = utcnow().strftime("%Y%m%d")
    ids = service.evaluable_domain_ids()
    for start in range(0, len(ids), EVALUATION_BATCH):
        batch = ids[start : start + EVALUATION_BATCH]
        enqueue(
            "workers.policy.evaluate_domains",
            queue=DEFAULT,
            job_id=f"policy-evaluate-{day}-{batch[0]}-{batch[-1]}",
            domain_ids=batch,
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
