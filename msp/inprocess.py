"""The standalone mode's job runtime: RQ queues on an in-process fakeredis server, consumed by
an RQ worker thread, with RQ's cron scheduler in another thread. Nothing here is a home-made
queue or scheduler: it is RQ, on a Redis that lives in this process.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fakeredis import FakeRedis, FakeServer
from flask import Flask
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

log = logging.getLogger(__name__)


def in_process_connection(app: Flask) -> Redis:
    server = FakeServer()
    app.extensions["msp_fake_redis_server"] = server
    return FakeRedis(server=server)


class ThreadWorker(SimpleWorker):
    """An RQ SimpleWorker that can run in a thread: signals belong to the main thread, so no
    signal handlers, and job time limits by timer instead of SIGALRM."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


def start_background_runtime(app: Flask, *, with_cron: bool = True) -> list[threading.Thread]:
    """Start the worker (and scheduler) threads for the standalone mode."""
    from msp.queues import ALL_QUEUES, dispatcher

    with app.app_context():
        connection = dispatcher().connection
    queues = [_queue(name, connection) for name in ALL_QUEUES]
    worker = ThreadWorker(queues, connection=connection, serializer=JSONSerializer)

    def work() -> None:
        with app.app_context():
            worker.work(with_scheduler=True, logging_level="WARNING")

    threads = [threading.Thread(target=work, name="msp-worker", daemon=True)]
    if with_cron:
        from workers.schedule import build_scheduler

        scheduler: Any = build_scheduler(connection)
        scheduler._install_signal_handlers = lambda: None
        threads.append(threading.Thread(target=scheduler.start, name="msp-cron", daemon=True))
    for thread in threads:
        thread.start()
    return threads


def _queue(name: str, connection: Redis) -> Any:
    from rq import Queue

    return Queue(name, connection=connection, serializer=JSONSerializer)
