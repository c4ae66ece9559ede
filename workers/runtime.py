"""How jobs run: the ``@job`` wrapper (app context, one commit, metrics, job-id logging),
the worker's app (created once per process), and cron entries.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from flask import Flask, current_app, has_app_context

from msp import observability
from msp.extensions import db

P = ParamSpec("P")
R = TypeVar("R")

_worker_app: Flask | None = None


def worker_app() -> Flask:
    """The process's app, created on first use (worker processes create it once)."""
    global _worker_app
    if _worker_app is None:
        from msp import create_app

        _worker_app = create_app()
    return _worker_app


def _current_job() -> tuple[str, str]:
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        return "", "inline"
    return job.id, job.origin


def job(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` inside the app, commit once on success, roll back on error."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        app = current_app._get_current_object() if has_app_context() else worker_app()  # type: ignore[attr-defined]
        job_id, queue = _current_job()
        with app.app_context(), observability.job_logging(job_id):
            started = time.perf_counter()
            status = "failed"
            try:
                result = fn(*args, **kwargs)
                db.session.commit()
                status = "finished"
                return result
            except BaseException:
                db.session.rollback()
                raise
            finally:
                observability.observe_job(
                    queue, fn.__qualname__, time.perf_counter() - started, status
                )

    return wrapper


@dataclass(frozen=True)
class CronEntry:
    """One periodic sweep: a job path, its queue, and ``interval`` seconds or a ``cron`` string."""

    func: Callable[..., Any]
    queue: str
    interval: int | None = None
    cron: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
