"""The ``msp web`` command: the app under gunicorn, through gunicorn's own application class.

gthread workers (processes x threads), sized from the CPUs this container may use; SIGTERM is
gunicorn's graceful stop (in-flight requests get ``--graceful-timeout`` seconds). Each worker
process builds its own app (no preload: database and Redis connections are never shared across
fork). Prometheus samples of all workers are merged through a multiprocess directory that is
emptied when the server starts.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from msp.observability.logs import gunicorn_logconfig
from msp.observability.metrics import (
    MULTIPROC_ENV,
    prepare_multiprocess_dir,
    worker_exited,
)

MAX_AUTO_WORKERS = 8
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
    max_requests: int = 2000
    max_requests_jitter: int = 200
    access_log: bool = True
    log_format: str = "text"
    log_level: str = "INFO"

    def gunicorn_settings(self) -> dict[str, Any]:
        settings = asdict(self)
        access_log = settings.pop("access_log")
        log_format = settings.pop("log_format")
        log_level = settings.pop("log_level")
        return {
            **settings,
            "bind": [self.bind],
            "worker_class": "gthread",
            "preload_app": False,
            "accesslog": "-" if access_log else None,
            "access_log_format": ACCESS_LOG_FORMAT,
            "errorlog": "-",
            "loglevel": log_level.lower(),
            "logconfig_dict": gunicorn_logconfig(log_format, log_level),
            # No runtime control socket: it would live in $HOME, which is read-only in the
            # container and shared between servers on a developer machine.
            "control_socket_disable": True,
            "proc_name": "msp-web",
        }


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
@click.option("--no-access-log", is_flag=True, help="do not log each request")
def web(
    bind: str, workers: int, threads: int, timeout: int, graceful_timeout: int, no_access_log: bool
) -> None:
    """Serve the web app and API with gunicorn (SIGTERM: finish requests, then stop)."""
    config = _prepare_master().config
    options = WebOptions(
        bind=bind,
        workers=workers or default_workers(available_cpus()),
        threads=threads,
        timeout=timeout,
        graceful_timeout=graceful_timeout,
        access_log=not no_access_log,
        log_format=config["MSP_LOG_FORMAT"],
        log_level=config["MSP_LOG_LEVEL"],
    )
    WebApplication(options.gunicorn_settings()).run()


COMMANDS: list[click.Command] = [web]
