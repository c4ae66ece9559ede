"""The policy timeline's retention: entries older than ``MSP_POLICY_TIMELINE_RETENTION_DAYS``
are deleted in bounded chunks (a daily evaluation adds one per domain per day).

Kept whatever their age: each domain's latest entry (the timeline never goes empty) and the
entries of a change still open (its evidence is read while it is decided). The changes
themselves (``policy_change``) and the plans are not purged. Never commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists

from msp.policy.changes import OPEN
from msp.policy.models import PolicyChange, PolicyTimelineEntry
from msp.purge import (
    PURGE_BUDGET_SECONDS,
    PURGE_CHUNK,
    not_latest_of_domain,
    purge_in_chunks,
)


def purge_timeline(
    retention_days: int,
    now: datetime,
    *,
    chunk: int = PURGE_CHUNK,
    budget_seconds: float = PURGE_BUDGET_SECONDS,
) -> int:
    """Delete timeline entries older than ``retention_days`` (0: keep for ever); the count."""
    if retention_days <= 0:
        return 0
    cutoff = now - timedelta(days=retention_days)

    def purgeable(old: Any) -> tuple[Any, ...]:
        superseded = not_latest_of_domain(PolicyTimelineEntry, old, "at")
        of_open_change = exists().where(
            PolicyChange.id == old.change_id, PolicyChange.status.in_(OPEN)
        )
        return (old.at < cutoff, superseded, ~of_open_change)  # false when change_id is null

    return purge_in_chunks(
        PolicyTimelineEntry, purgeable, chunk=chunk, budget_seconds=budget_seconds
    )
