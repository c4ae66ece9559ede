"""The ``msp web`` command: the app under gunicorn, through gunicorn's own application class.

gthread workers (processes x threads), sized from the CPUs this container may use; SIGTERM is
gunicorn's graceful stop (in-flight requests get ``--graceful-timeout`` seconds). Workers are not
recycled after a number of requests unless ``--max-requests`` asks for it (a recycled worker
re-imports the app, and the requests queued on it wait seconds meanwhile); ``--no-access-log``
silences the per-request log (gunicorn would still write it through the logging configuration).
Each worker process builds its own app (no preload: database and Redis connections are never
shared across fork). Prometheus samples of all workers are merged through a multiprocess
directory that is emptied when the server starts.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger
from gunicorn.workers.base import Worker

from msp.observability.logs import gunicorn_logconfig
from msp.observability.metrics import (
    MULTIPROC_ENV,
    prepare_multiprocess_dir,
    worker_exited,
)

MAX_AUTO_WORKERS = 8
SWITCH_INTERVAL = 0.0005  # seconds a thread holds the GIL before others may run (Python: 0.005)
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"
# The access log carries the request id the app put in the response (X-Request-ID).
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms req=%({x-request-id}o)s "%(a)s"'


def available_cpus(cpu_max_path: str = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use: the cgroup v2 quota if any (a container's CPU limit), else
    the CPU affinity. ``os.cpu_count()`` would report the whole node."""
    cpus = len(os.sched_getaffinity(0))
    try:
        with open(cpu_max_path) as handle:
            quota, period = handle.read().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max":
        return cpus
    return max(1, min(cpus, math.ceil(int(quota) / int(period))))


def default_workers(cpus: int) -> int:
    """gunicorn's rule of thumb (2 x CPUs + 1), capped: threads give the rest of the concurrency."""
    return max(2, min(2 * cpus + 1, MAX_AUTO_WORKERS))


@dataclass(frozen=True)
class WebOptions:
    """What ``msp web`` hands to gunicorn (gunicorn setting names)."""

    bind: str
    workers: int
    threads: int
    timeout: int
    graceful_timeout: int
    keepalive: int = 5
    max_requests: int = 0  # 0: a worker is never recycled for its number of requests
    max_requests_jitter: int = 0
    access_log: bool = True
    log_format: str = "text"
    log_level: str = "INFO"

    def gunicorn_settings(self) -> dict[str, Any]:
        settings = asdict(self)
        access_log = settings.pop("access_log")
        log_format = settings.pop("log_format")
        log_level = settings.pop("log_level")
        logconfig = gunicorn_logconfig(log_format, log_level)
        if not access_log:
            logconfig["loggers"]["gunicorn.access"] = {"handlers": [], "propagate": False}
        return {
            **settings,
            "bind": [self.bind],
            "worker_class": "gthread",
            "preload_app": False,
            "accesslog": "-" if access_log else None,
            "access_log_format": ACCESS_LOG_FORMAT,
            # gunicorn logs each request whenever a logging configuration is given, even with
            # no access log set: without one, the logger class is the one that logs none.
            "logger_class": f"{__name__}.{'' if access_log else 'NoAccess'}Logger",
            "errorlog": "-",
            "loglevel": log_level.lower(),
            "logconfig_dict": logconfig,
            # No runtime control socket: it would live in $HOME, which is read-only in the
            # container and shared between servers on a developer machine.
            "control_socket_disable": True,
            "proc_name": "msp-web",
        }


class NoAccessLogger(Logger):
    """gunicorn's logger without the per-request access log (``msp web --no-access-log``)."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Log nothing, and build nothing to log."""


def _on_starting(server: Arbiter) -> None:
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        path = tempfile.mkdtemp(prefix="msp-prometheus-")
        server.msp_owned_metrics_dir = path  # removed again in _on_exit
    prepare_multiprocess_dir(path)
    server.log.info("prometheus multiprocess directory: %s", path)


def _on_exit(server: Arbiter) -> None:
    owned = getattr(server, "msp_owned_metrics_dir", None)
    if owned:
        shutil.rmtree(owned, ignore_errors=True)


def _child_exit(_server: Arbiter, worker: Worker) -> None:
    worker_exited(worker.pid)


class WebApplication(BaseApplication):
    """gunicorn's application class around ``create_app``."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("on_starting", _on_starting)
        self.cfg.set("child_exit", _child_exit)
        self.cfg.set("on_exit", _on_exit)

    def load(self) -> Flask:
        from msp import create_app

        # A thread drawing a page holds the GIL for 5 ms at a time by default; the threads
        # answering from the caches need it for a few microseconds between socket and Redis
        # waits, and queued behind a draw for every one of them (the convoy). A shorter
        # interval lets them through while a page is drawn.
        sys.setswitchinterval(SWITCH_INTERVAL)
        return create_app()


def _prepare_master() -> Flask:
    """Build the app once in the master and throw it away.

    It fails here, once, on a configuration error instead of in every worker's boot, and it
    imports every module before gunicorn forks: a worker's boot then only assembles, well
    inside gunicorn's timeout (which also covers the boot) even on a busy node. Nothing
    connects: engines and Redis clients open connections on first use, in the workers.
    """
    from msp import create_app

    return create_app()


@click.command("web")
@click.option(
    "--bind",
    "-b",
    default="0.0.0.0:8000",
    show_default=True,
    envvar="MSP_WEB_BIND",
    help="host:port to listen on",
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(min=0),
    default=0,
    envvar="WEB_CONCURRENCY",
    help="worker processes; 0 = 2 x usable CPUs + 1, at most 8",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    envvar="MSP_WEB_THREADS",
    help="threads per worker process",
)
@click.option(
    "--timeout",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="seconds before a silent worker is restarted",
)
@click.option(
    "--graceful-timeout",
    type=click.IntRange(min=0),
    default=30,
    show_default=True,
    help="seconds in-flight requests get on SIGTERM",
)
@click.option(
    "--max-requests",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    envvar="MSP_WEB_MAX_REQUESTS",
    help="restart a worker process after this many requests (plus up to 10%, so they do not "
    "all restart at once); 0 = never. Only a stop-gap for a memory leak",
)
@click.option(
    "--no-access-log",
    is_flag=True,
    envvar="MSP_WEB_NO_ACCESS_LOG",
    help="do not log each request (errors and server events are still logged)",
)
def web(
    bind: str,
    workers: int,
    threads: int,
    timeout: int,
    graceful_timeout: int,
    max_requests: int,
    no_access_log: bool,
) -> None:
    """Serve the web app and API with gunicorn (SIGTERM: finish requests, then stop)."""
    config = _prepare_master().config
    options = WebOptions(
        bind=bind,
        workers=workers or default_workers(available_cpus()),
        threads=threads,
        timeout=timeout,
        graceful_timeout=graceful_timeout,
        max_requests=max_requests,
        max_requests_jitter=max_requests // 10,
        access_log=not no_access_log,
        log_format=config["MSP_LOG_FORMAT"],
        log_level=config["MSP_LOG_LEVEL"],
    )
    WebApplication(options.gunicorn_settings()).run()


COMMANDS: list[click.Command] = [web]
