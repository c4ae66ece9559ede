"""The policy timeline's retention: entries older than ``MSP_POLICY_TIMELINE_RETENTION_DAYS``
are deleted in bounded chunks (a daily evaluation adds one per domain per day).

Kept whatever their age: each domain's latest entry (the timeline never goes empty) and the
entries of a change still open (its evidence is read while it is decided). The changes
themselves (``policy_change``) and the plans are not purged. Never commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists

from msp.policy.changes import OPEN
from msp.policy.models import PolicyChange, PolicyTimelineEntry
from msp.purge import (
    PURGE_BUDGET_SECONDS,
    PURGE_CHUNK,
    purge_domain_history,
)


def purge_timeline(
    retention_days: int,
    now: datetime,
    *,
    chunk: int = PURGE_CHUNK,
    budget_seconds: float = PURGE_BUDGET_SECONDS,
) -> int:
    """Delete timeline entries older than ``retention_days`` (0: keep for ever); the count."""

    def kept(row: Any) -> tuple[Any, ...]:  # an open change's entries (false without a change)
        return (~exists().where(PolicyChange.id == row.change_id, PolicyChange.status.in_(OPEN)),)

    return purge_domain_history(
        PolicyTimelineEntry,
        "at",
        retention_days,
        now,
        keep=kept,
        chunk=chunk,
        budget_seconds=budget_seconds,
    )
