"""A job for the worker tests: marks its start and end in Redis, logs, and sleeps in between."""

from __future__ import annotations

import logging
import os
import time

from msp.queues import dispatcher
from workers.runtime import job

log = logging.getLogger(__name__)


@job
def slow_job(marker: str, seconds: float) -> str:
    connection = dispatcher().connection
    connection.set(f"{marker}:started", "1")
    log.info("slow job %s started", marker)
    time.sleep(seconds)
    connection.set(f"{marker}:finished", "1")
    log.info("slow job %s finished", marker)
    return marker


@job
def process_id(marker: str) -> int:
    """The id of the process that ran the job (the worker's own, or a forked work horse's)."""
    dispatcher().connection.set(f"{marker}:pid", str(os.getpid()))
    return os.getpid()
