"""Observability: Prometheus metrics at ``/metrics``, request ids, JSON logs, job-id logging.

The three hooks the rest of the code calls:

- :func:`init_app` (from ``create_app``): request ids and metrics, ``/metrics``, log format.
- :func:`observe_job` (from the job wrapper): counts one job run and its duration in Redis,
  where any web process's scrape reads it.
- :func:`job_logging` (around each job): every log line inside carries the job id.
"""

from __future__ import annotations

import logging

from flask import Flask, has_app_context

from msp.observability.context import job_logging
from msp.observability.http import init_http
from msp.observability.jobstats import JobStats
from msp.observability.logs import configure_logging

__all__ = ["init_app", "job_logging", "observe_job"]

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Install request ids, request metrics, ``/metrics`` and the log handler."""
    init_http(app)
    configure_logging(
        app.config.get("MSP_LOG_FORMAT", "text"), app.config.get("MSP_LOG_LEVEL", "INFO")
    )


def observe_job(queue: str, func_name: str, seconds: float, status: str) -> None:
    """Record one job run. Never raises: a metrics outage must not fail the job."""
    if not has_app_context():
        log.warning("job %s on %s ran outside the app; not counted", func_name, queue)
        return
    try:
        from msp.queues import dispatcher

        JobStats(dispatcher().connection).record(queue, func_name, seconds, status)
    except Exception:  # Redis down or similar: log it, keep the job's own outcome
        log.warning("could not record metrics for job %s on %s", func_name, queue, exc_info=True)
