"""The schedule: every area's ``CRON`` entries (msp/areas.py names the modules), registered
with RQ's own cron scheduler.

Run exactly one scheduler (``msp scheduler``). Cron strings are evaluated in the scheduler
process's time zone: run it with ``TZ=UTC``.
"""

from __future__ import annotations

import logging
from typing import Any

from redis import Redis
from rq.cron import CronJob, CronScheduler

from msp.areas import job_modules, load
from msp.queues import Dispatcher
from workers.runtime import CronEntry

log = logging.getLogger(__name__)


def entries() -> list[CronEntry]:
    """Every area's ``CRON`` (the ``jobs`` modules named in msp/areas.py)."""
    found: list[CronEntry] = []
    for name in job_modules():
        found.extend(load(name).CRON)
    return found


class JsonCronScheduler(CronScheduler):
    """RQ's cron scheduler, enqueueing with the JSON serializer every worker here uses.

    rq 3.0's ``CronJob.enqueue`` always uses the default (pickle) serializer; this keeps RQ's
    timing logic and only swaps how a due job is put on its queue.
    """

    def __init__(self, connection: Redis[bytes], **kwargs: Any) -> None:
        super().__init__(connection, **kwargs)
        self._dispatch = Dispatcher(connection, retries=0)

    def enqueue_jobs(self) -> list[CronJob]:
        from rq.utils import now

        due: list[CronJob] = []
        for cron_job in self._cron_jobs:
            if cron_job.func is not None and cron_job.should_run():
                queue = self._dispatch.queue(cron_job.queue_name)
                queue.enqueue(
                    cron_job.func, kwargs=cron_job.kwargs or {}, job_id=None, result_ttl=600
                )
                cron_job.set_enqueue_time(now())
                due.append(cron_job)
        return due


def build_scheduler(connection: Redis[bytes]) -> JsonCronScheduler:
    scheduler = JsonCronScheduler(connection, name="msp-scheduler")
    for entry in entries():
        scheduler.register(
            entry.func,
            queue_name=entry.queue,
            kwargs=entry.kwargs,
            interval=entry.interval,
            cron=entry.cron,
            name=f"{entry.func.__module__}.{entry.func.__name__}",
        )
    return scheduler
