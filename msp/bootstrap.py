"""Process entry points: the standalone mode, the RQ worker, the scheduler, the first admin."""

from __future__ import annotations

import gc
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import current_app
from sqlalchemy import select

from msp.auth.models import User
from msp.extensions import db
from msp.liveness import WORKER_TTL, touch

if TYPE_CHECKING:
    from redis.client import Pipeline
    from rq.cron import CronScheduler
    from rq.worker import BaseWorker

log = logging.getLogger(__name__)


def ensure_first_admin(
    email: str = "admin@localhost", password: str | None = None
) -> tuple[str, str] | None:
    """Create an msp_admin when there is none; returns (email, password) when it did."""
    if db.session.scalar(select(User.id).where(User.msp_role == "msp_admin")) is not None:
        return None
    from msp.auth.users import create_user

    password = password or secrets.token_urlsafe(12)
    create_user(None, {"email": email, "password": password, "msp_role": "msp_admin"})
    return email, password


def migrate_to_latest() -> None:
    from flask_migrate import upgrade  # Alembic: only the commands that migrate load it

    upgrade(revision="heads")


def run_standalone(host: str, port: int, demo: bool) -> None:
    """Everything in one process on the embedded defaults (SQLite, in-process RQ).

    The server's socket is opened before any background thread starts, and every child forked
    later closes it and dies with this process (msp/inprocess.py): after a ``kill -9`` nothing
    keeps the port, so the next start can bind it."""
    from werkzeug.serving import make_server

    from msp.inprocess import guard_forked_children, start_background_runtime
    from workers.schedule import build_scheduler

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    migrate_to_latest()
    created = ensure_first_admin()
    if demo:
        from msp.demo import seed_demo

        seed_demo()
    db.session.commit()
    if created:
        click.secho(
            f"First MSP admin: {created[0]}  password: {created[1]}  (shown once)", fg="green"
        )
    app.config["SESSION_COOKIE_SECURE"] = app.config["MSP_SECURE_COOKIES"] and host not in {
        "127.0.0.1",
        "localhost",
    }
    server = make_server(host, port, app, threaded=True)
    guard_forked_children(server.socket)
    if not app.config["MSP_REDIS_URL"]:
        start_background_runtime(app, cron=build_scheduler)
    click.echo(f"Serving on http://{host}:{port}/ (API: /api/v1, OpenAPI: /api/v1/openapi.json)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def run_worker(
    queue_names: list[str],
    *,
    burst: bool,
    name: str | None,
    liveness_file: Path | None = None,
    fork: bool = False,
) -> None:
    """An RQ worker on the configured Redis; the app context lives as long as the worker.
    With ``liveness_file``, it is touched now and on every RQ heartbeat (see msp/liveness.py).

    Jobs run in the worker process itself (RQ's SimpleWorker, as the standalone mode does):
    its database connection, compiled statements and loaded catalogues serve every job, which
    on a backlog of reports is over twice as fast as a forked work horse per job (a new
    connection and cold caches each time; bench/RESULTS.md). A job that crashes the interpreter
    takes the worker with it: Kubernetes restarts it and the recovery sweep queues its work
    again. ``fork=True`` isolates each job in a forked work horse instead."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    from msp.queues import ALL_QUEUES, dispatcher

    unknown = set(queue_names) - set(ALL_QUEUES)
    if unknown:
        raise click.ClickException(f"unknown queue(s): {', '.join(sorted(unknown))}")
    if not current_app.config["MSP_REDIS_URL"]:
        raise click.ClickException("MSP_REDIS_URL is not set: use `msp standalone` instead")
    _configure_logging()
    if liveness_file is not None:
        touch(liveness_file)  # the probe's max age covers the start-up from here
    _preload_for_work_horses()
    connection = dispatcher().connection
    queues = [Queue(n, connection=connection, serializer=JSONSerializer) for n in queue_names]
    worker_class = _liveness_worker_class(liveness_file, fork=fork)
    worker = worker_class(
        queues,
        connection=connection,
        serializer=JSONSerializer,
        name=name,
        # RQ's default (420 s) leaves an idle worker 7 minutes between heartbeats.
        worker_ttl=WORKER_TTL if liveness_file is not None else None,
    )
    db.engine.dispose()  # never share pooled connections with forked processes
    worker.work(burst=burst, with_scheduler=True)


def _configure_logging() -> None:
    """The app's log format and level (the worker and scheduler build the app without the
    HTTP parts, whose set-up does this for the web)."""
    from msp.observability.logs import configure_logging

    configure_logging(
        current_app.config.get("MSP_LOG_FORMAT", "text"),
        current_app.config.get("MSP_LOG_LEVEL", "INFO"),
    )


def _preload_for_work_horses() -> None:
    """Import every job module and load read-only catalogues once, before the first job (and
    before any forked work horse, with ``--fork``), so no job pays for them again."""
    from msp.reports.parsing import service_catalogue
    from workers.schedule import entries

    entries()
    service_catalogue()
    # What is loaded now lives as long as the worker: keep it out of the collector's full
    # passes, and out of the pages a forked work horse would copy when the collector walks them.
    gc.collect()
    gc.freeze()


def _liveness_worker_class(liveness_file: Path | None, *, fork: bool) -> type[BaseWorker]:
    """RQ's worker, or one that touches ``liveness_file`` on each heartbeat: before the Redis
    write, so a worker retrying an unreachable Redis counts as alive (a restart would not help)
    while one blocked on a dead connection does not.

    A heartbeat's timeout is how long RQ lets the worker stay silent next: WORKER_TTL when
    idle, at most 90 s while a forked work horse runs (the parent beats every 30 s), and the
    job's timeout + 60 s when the worker is about to run a job in itself (it cannot beat until
    the job ends or its timeout stops it). The file is dated ahead by what exceeds WORKER_TTL,
    so the probe lets such a job run to its timeout and restarts a worker wedged past it."""
    from rq import SimpleWorker, Worker

    base: type[BaseWorker] = Worker if fork else SimpleWorker
    if liveness_file is None:
        return base
    path = liveness_file

    class LivenessWorker(base):  # type: ignore[valid-type,misc]
        def heartbeat(
            self, timeout: int | None = None, pipeline: Pipeline[bytes] | None = None
        ) -> None:
            touch(path, ahead=(timeout or WORKER_TTL) - WORKER_TTL)
            super().heartbeat(timeout, pipeline)

    return LivenessWorker


def run_scheduler(liveness_file: Path | None = None) -> None:
    """The rq cron scheduler; with ``liveness_file``, touched now and on each round."""
    from msp.queues import dispatcher
    from workers.schedule import build_scheduler

    if not current_app.config["MSP_REDIS_URL"]:
        raise click.ClickException("MSP_REDIS_URL is not set: `msp standalone` runs the schedule")
    _configure_logging()
    if liveness_file is not None:
        touch(liveness_file)
    scheduler = build_scheduler(dispatcher().connection)
    if liveness_file is not None:
        _touch_on_heartbeat(scheduler, liveness_file)
    scheduler.start()  # type: ignore[no-untyped-call,unused-ignore]


def _touch_on_heartbeat(scheduler: CronScheduler, liveness_file: Path) -> None:
    """workers/schedule.py owns the scheduler's class: wrap this one's heartbeat (once per
    round, at least every 60 s) rather than subclass it here."""
    beat = scheduler.heartbeat

    def heartbeat() -> None:
        touch(liveness_file)
        beat()

    scheduler.heartbeat = heartbeat  # type: ignore[method-assign]
