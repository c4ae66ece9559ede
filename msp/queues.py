"""Queue names and ``enqueue``: the one place that puts jobs on RQ.

Jobs are sent only when the caller's database transaction commits, so a worker never sees an
id that is not yet committed, and a rolled-back request enqueues nothing. With ``MSP_REDIS_URL``
unset (the standalone mode) the same RQ queues live on an in-process fakeredis server that a
worker thread of this process consumes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

if TYPE_CHECKING:  # RQ and redis are imported when a job is sent, not by every service import
    from redis import Redis
    from rq import Queue
    from rq.job import Job

CHECKS = "checks"
REPORTS = "reports"
NOTIFICATIONS = "notifications"
DEFAULT = "default"
ALL_QUEUES = (CHECKS, REPORTS, NOTIFICATIONS, DEFAULT)
RETRY_INTERVALS = [30, 120, 600]
DEFAULT_JOB_TIMEOUT = 600
_ACTIVE = frozenset({"queued", "started", "scheduled", "deferred"})  # rq.job.JobStatus values
_PENDING_KEY = "msp_pending_jobs"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobRequest:
    func: str
    queue: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None
    at: datetime | None = None
    front: bool = False


class Dispatcher:
    """Sends job requests to RQ queues on one Redis connection (real or in-process), made by
    ``connect`` on first use."""

    def __init__(self, connect: Redis[bytes] | Callable[[], Redis[bytes]], retries: int) -> None:
        self._connect = connect
        self._connection: Redis[bytes] | None = None
        self._lock = threading.Lock()
        self.retries = retries

    @property
    def connection(self) -> Redis[bytes]:
        if self._connection is None:
            with self._lock:  # one in-process server per app, even with racing threads
                if self._connection is None:
                    connect = self._connect
                    self._connection = connect() if callable(connect) else connect
        return self._connection

    def queue(self, name: str) -> Queue:
        from rq import Queue
        from rq.serializers import JSONSerializer

        return Queue(name, connection=self.connection, serializer=JSONSerializer)

    def send(self, request: JobRequest) -> Job | None:
        if request.job_id and self._active(request.job_id):
            log.debug("job %s is already waiting or running; not enqueued again", request.job_id)
            return None
        queue = self.queue(request.queue)
        options: dict[str, Any] = {
            "job_id": request.job_id,
            "job_timeout": DEFAULT_JOB_TIMEOUT,
            "result_ttl": 3600,
            "failure_ttl": 7 * 86400,
        }
        if self.retries:
            from rq import Retry

            options["retry"] = Retry(max=self.retries, interval=RETRY_INTERVALS[: self.retries])
        if request.at is not None:
            scheduled: Job = queue.enqueue_at(
                request.at, request.func, kwargs=request.kwargs, **options
            )
            return scheduled
        return queue.enqueue(request.func, kwargs=request.kwargs, at_front=request.front, **options)

    def _active(self, job_id: str) -> bool:
        from rq.job import Job
        from rq.serializers import JSONSerializer

        try:
            job = Job.fetch(job_id, connection=self.connection, serializer=JSONSerializer)
        except Exception:  # NoSuchJobError, or a job whose data expired
            return False
        return job.get_status(refresh=False) in _ACTIVE


def enqueue(
    func: str,
    *,
    queue: str,
    job_id: str | None = None,
    at: datetime | None = None,
    front: bool = False,
    **kwargs: Any,
) -> None:
    """Send ``func(**kwargs)`` to ``queue`` when the current transaction commits.

    ``func`` is a dotted path (``workers.dns.check_domain``); ``kwargs`` are primitive ids.
    A deterministic ``job_id`` makes repeated sweeps idempotent while the job is pending.
    ``front`` puts the job at the head of its queue: work sent again after it was lost (a
    killed worker's) goes before a backlog that arrived after it.
    """
    from msp.extensions import db

    if queue not in ALL_QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    session = db.session()
    if not session.in_transaction():
        session.begin()  # so that a rollback ends it and discards the request
    session.info.setdefault(_PENDING_KEY, []).append(
        JobRequest(func=func, queue=queue, kwargs=kwargs, job_id=job_id, at=at, front=front)
    )


def dispatcher() -> Dispatcher:
    sender: Dispatcher = current_app.extensions["msp_dispatcher"]
    return sender


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the ids it wrote are committed with the outer transaction
    pending: list[JobRequest] = session.info.pop(_PENDING_KEY, [])
    if not pending:
        return
    sender = dispatcher()
    for request in pending:
        sender.send(request)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # After a commit the list is already sent and gone; what is left was rolled back.
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


def init_app(app: Flask, connect: Redis[bytes] | Callable[[], Redis[bytes]]) -> None:
    app.extensions["msp_dispatcher"] = Dispatcher(connect, app.config["MSP_JOB_RETRIES"])
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_transaction_end", _after_transaction_end)
