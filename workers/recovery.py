"""Recovery of abandoned report parsing: the sweep that finds stored files no live job covers.

The reports area's stale sweep (``sweep_stale_reports``) waits ``MSP_REPORTS_STALE_MINUTES``
(15) after a file was received, because it cannot tell a file whose job is still waiting
behind a backlog from one whose job died with its worker. This sweep asks RQ instead: a pending
file is covered while a parse job for its id range is queued, scheduled or deferred, or started
by a worker that is still alive. Everything else is re-enqueued within one sweep interval:
after a worker killed with SIGKILL (its job stays "started" for ever) and after Redis lost its
data (no job at all). Re-enqueueing is safe: ``process_raws`` locks each file's row and skips
what another worker holds or already finished, so a file is never counted twice.
"""

from __future__ import annotations

import os
import re
import socket
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from msp.extensions import db
from msp.queues import CHECKS, REPORTS, dispatcher, enqueue
from msp.reports.models import RawReport
from msp.reports.processing import PARSE_BUCKET
from workers.runtime import CronEntry, job

# A file younger than this may still be on its way to RQ (jobs are sent after the commit).
GRACE = timedelta(seconds=10)
# RQ refreshes a running job's heartbeat every 30 s (its job monitoring interval); a job whose
# heartbeat is older than this has lost its worker, even on another host.
HEARTBEAT_GRACE = timedelta(seconds=60)
SWEEP_SECONDS = 20
_PARSE_ID = re.compile(r"^parse-raws-(\d+)(?:-|$)")


def _bucket(job_id: str) -> int | None:
    match = _PARSE_ID.match(job_id)
    return int(match.group(1)) if match else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def worker_alive(connection: Redis[bytes], job: Job, now: datetime) -> bool:
    """Whether the worker running ``job`` still lives: its RQ key exists, its process exists when
    it runs on this host, and the job's heartbeat is recent."""
    if job.worker_name:
        info = connection.hgetall(f"rq:worker:{job.worker_name}")
        if not info:
            return False  # its key expired or Redis lost it
        host, pid = info.get(b"hostname", b"").decode(), info.get(b"pid", b"")
        if host == socket.gethostname() and pid and not _pid_alive(int(pid)):
            return False
    beat = job.last_heartbeat or job.started_at
    return beat is not None and now - beat.replace(tzinfo=UTC) < HEARTBEAT_GRACE


def covered_buckets(connection: Redis[bytes], now: datetime) -> set[int]:
    """The parse buckets a live job will still process."""
    queue = Queue(REPORTS, connection=connection, serializer=JSONSerializer)
    waiting = list(queue.get_job_ids())
    for registry_class in (ScheduledJobRegistry, DeferredJobRegistry):
        registry = registry_class(queue=queue, serializer=JSONSerializer)
        waiting.extend(registry.get_job_ids(cleanup=False))
    covered = {b for b in map(_bucket, waiting) if b is not None}
    started = StartedJobRegistry(queue=queue, serializer=JSONSerializer)
    running = [i for i in started.get_job_ids(cleanup=False) if _bucket(i) is not None]
    jobs = Job.fetch_many(running, connection=connection, serializer=JSONSerializer)
    for found in jobs:
        if found is not None and worker_alive(connection, found, now):
            covered.add(_bucket(found.id) or 0)
    return covered


def abandoned_buckets(pending: list[int], covered: set[int]) -> list[int]:
    return sorted({raw_id // PARSE_BUCKET for raw_id in pending} - covered)


@job
def sweep_abandoned_parses() -> int:
    """Re-enqueue the parse of every pending file that no live job covers; returns the number
    of parse jobs sent."""
    now = datetime.now(UTC)
    pending = list(
        db.session.scalars(
            select(RawReport.id)
            .where(RawReport.status == "pending", RawReport.received_at <= now - GRACE)
            .order_by(RawReport.id)
            .limit(10_000)
        )
    )
    if not pending:
        return 0
    buckets = abandoned_buckets(pending, covered_buckets(dispatcher().connection, now))
    tag = f"-recover-{int(now.timestamp())}"
    # At the head of the queue, before any backlog that arrived since (the files are older);
    # sent in reverse so the oldest ends up first.
    for bucket in reversed(buckets):
        first = bucket * PARSE_BUCKET
        enqueue(
            "workers.reports.parse_raws",
            queue=REPORTS,
            job_id=f"parse-raws-{bucket}{tag}",
            front=True,
            first_id=first,
            last_id=first + PARSE_BUCKET - 1,
        )
    return len(buckets)


# On the checks queue, which workers take first: behind the reports queue (or the default one,
# after it) the sweep would wait for the very backlog it rescues.
CRON: list[CronEntry] = [
    CronEntry(sweep_abandoned_parses, queue=CHECKS, interval=SWEEP_SECONDS),
]
