"""Housekeeping jobs of the foundation: expired web sessions and old login attempts."""

from __future__ import annotations

from datetime import timedelta

from msp.auth import maintenance
from msp.db import utcnow
from msp.queues import DEFAULT
from workers.runtime import CronEntry, job


@job
def prune_auth_records() -> dict[str, int]:
    """Delete sessions that ended over a day ago and failed logins older than a day."""
    return maintenance.prune(utcnow() - timedelta(days=1))


CRON = [CronEntry(prune_auth_records, queue=DEFAULT, interval=3600)]
