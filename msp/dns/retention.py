"""The posture history's retention: runs older than ``MSP_DNS_HISTORY_RETENTION_DAYS`` are
deleted in bounded chunks (a check adds one, with its whole result, every few hours).

Kept whatever their age, because deleting them would lose more than history:

* each domain's latest run (the posture other areas read, :func:`msp.dns.service.latest_run`);
* a run a record snapshot points to (``dns_record_snapshot.run_id`` cascades: the snapshot is
  the baseline the next check compares with, and without it a change would go unnoticed);
* a run a drift points to (``dns_record_drift.run_id`` cascades: the record-change history is
  kept, it grows per change, not per check).

Findings point to the runs that opened and closed them with ``SET NULL``: they stay, without
the link. Never commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists

from msp.dns.models import PostureRun, RecordDrift, RecordSnapshot
from msp.purge import (
    PURGE_BUDGET_SECONDS,
    PURGE_CHUNK,
    purge_domain_history,
)


def purge_history(
    retention_days: int,
    now: datetime,
    *,
    chunk: int = PURGE_CHUNK,
    budget_seconds: float = PURGE_BUDGET_SECONDS,
) -> int:
    """Delete posture runs older than ``retention_days`` (0: keep for ever); the count."""

    def kept(row: Any) -> tuple[Any, ...]:  # runs a snapshot or a drift points to
        return (
            ~exists().where(RecordSnapshot.run_id == row.id),
            ~exists().where(RecordDrift.run_id == row.id),
        )

    return purge_domain_history(
        PostureRun,
        "checked_at",
        retention_days,
        now,
        keep=kept,
        chunk=chunk,
        budget_seconds=budget_seconds,
    )
