"""The policy timeline's retention: entries older than ``MSP_POLICY_TIMELINE_RETENTION_DAYS``
are deleted in bounded chunks (a daily evaluation adds one per domain per day).

Kept whatever their age: each domain's latest entry (the timeline never goes empty) and the
entries of a change still open (its evidence is read while it is decided). The changes
themselves (``policy_change``) and the plans are not purged. Never commits.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, tuple_
from sqlalchemy.orm import aliased

from msp.extensions import db
from msp.policy.changes import OPEN
from msp.policy.models import PolicyChange, PolicyTimelineEntry

PURGE_CHUNK = 5000  # rows per DELETE statement
PURGE_BUDGET_SECONDS = 240.0  # a run stops after this (the job timeout is 600 s); the rest waits


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
    deadline = time.monotonic() + budget_seconds
    old, newer = aliased(PolicyTimelineEntry), aliased(PolicyTimelineEntry)
    superseded = exists().where(
        newer.tenant_id == old.tenant_id,
        newer.domain_id == old.domain_id,
        tuple_(newer.at, newer.id) > tuple_(old.at, old.id),
    )
    of_open_change = exists().where(PolicyChange.id == old.change_id, PolicyChange.status.in_(OPEN))
    purged, after = 0, 0
    while True:
        batch = (
            select(old.id)
            .where(
                old.id > after,
                old.at < cutoff,
                superseded,
                ~of_open_change,  # false when change_id is null
            )
            .order_by(old.id)
            .limit(chunk)
        )
        ids = list(
            db.session.scalars(
                delete(PolicyTimelineEntry)
                .where(PolicyTimelineEntry.id.in_(batch))
                .returning(PolicyTimelineEntry.id)
            )
        )
        purged += len(ids)
        if len(ids) < chunk or time.monotonic() >= deadline:
            return purged
        after = max(ids)
