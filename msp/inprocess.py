"""The standalone mode's job runtime: RQ queues on an in-process fakeredis server, consumed by
an RQ worker thread, with RQ's scheduler (retries, ``enqueue_at``) and cron scheduler in two
more threads. Nothing here is a home-made queue or scheduler: it is RQ, on a Redis that lives
in this process.

Threads, never forked processes: a forked child would work on a copy of the in-process Redis
(a retry scheduled there never runs), and would keep the parent's listening socket after a
``kill -9`` of the parent. :func:`guard_forked_children` covers any fork that still happens.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from fakeredis import FakeRedis, FakeServer
from flask import Flask
from redis import Redis
from rq import SimpleWorker
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# Builds the cron scheduler on a connection (workers.schedule.build_scheduler): passed in by
# the process entry point so this foundation module does not import the workers.
CronFactory = Callable[["Redis[bytes]"], Any]


def in_process_connection(app: Flask) -> Redis[bytes]:
    server = FakeServer()
    app.extensions["msp_fake_redis_server"] = server
    connection: Redis[bytes] = FakeRedis(server=server)
    return connection


class ThreadWorker(SimpleWorker):
    """An RQ SimpleWorker that can run in a thread: signals belong to the main thread, so no
    signal handlers, and job time limits by timer instead of SIGALRM."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


class ThreadScheduler(RQScheduler):
    """RQ's scheduler (moves due scheduled jobs and retries onto their queues) run in a thread
    on this process's own connection, instead of the process RQ's worker would fork."""

    def __init__(self, queue_names: list[str], connection: Redis[bytes]) -> None:
        super().__init__(queue_names, connection=connection, serializer=JSONSerializer)
        # the same in-process server, not a new client of it
        self._connection = connection  # type: ignore[assignment]

    def _install_signal_handlers(self) -> None:
        pass


def start_background_runtime(
    app: Flask, *, cron: CronFactory | None = None
) -> list[threading.Thread]:
    """Start the worker, scheduler (and, given ``cron``, cron) threads for the standalone mode."""
    from msp.queues import ALL_QUEUES, dispatcher

    with app.app_context():
        connection = dispatcher().connection
    queues = [_queue(name, connection) for name in ALL_QUEUES]
    worker = ThreadWorker(queues, connection=connection, serializer=JSONSerializer)
    scheduler = ThreadScheduler(list(ALL_QUEUES), connection)

    def work() -> None:
        with app.app_context():
            worker.work(with_scheduler=False, logging_level="WARNING")

    threads = [
        threading.Thread(target=work, name="msp-worker", daemon=True),
        threading.Thread(target=scheduler.work, name="msp-scheduler", daemon=True),
    ]
    if cron is not None:
        cron_scheduler = cron(connection)
        cron_scheduler._install_signal_handlers = lambda: None
        threads.append(threading.Thread(target=cron_scheduler.start, name="msp-cron", daemon=True))
    for thread in threads:
        thread.start()
    return threads


def _queue(name: str, connection: Redis[bytes]) -> Any:
    from rq import Queue

    return Queue(name, connection=connection, serializer=JSONSerializer)


def guard_forked_children(listening: socket.socket) -> None:
    """Every child forked from now on closes ``listening`` (the server's socket: a child that
    outlives us must not keep the port) and, on Linux, is killed when this process dies."""
    parent = os.getpid()

    def in_child() -> None:
        listening.close()
        _die_with_parent(parent)

    os.register_at_fork(after_in_child=in_child)


def _die_with_parent(parent: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl here: the socket is closed all the same
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
