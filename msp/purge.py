"""Retention purges: delete old rows in bounded, id-ordered chunks within a time budget.

Each area decides which rows may go (its retention setting and keep rules); this is the one
loop that deletes them, a chunk per statement so no purge holds a huge delete, and stops when
nothing is left or its budget is spent (the next night's run goes on). Never commits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select, tuple_
from sqlalchemy.orm import aliased

from msp.extensions import db

PURGE_CHUNK = 5_000
PURGE_BUDGET_SECONDS = 240.0  # under the jobs' 600 s timeout, with room for the commit


def purge_in_chunks(
    model: Any,
    conditions: Callable[[Any], Sequence[Any]],
    *,
    chunk: int = PURGE_CHUNK,
    budget_seconds: float = PURGE_BUDGET_SECONDS,
) -> int:
    """Delete the rows of ``model`` (with an integer ``id``) for which ``conditions(alias)``
    hold, where ``alias`` is the row a chunk selects; how many were deleted."""
    deadline = time.monotonic() + budget_seconds
    old = aliased(model)  # the chunk's own FROM: not correlated to the DELETE's table
    where = conditions(old)
    purged, after = 0, 0
    while True:
        batch = select(old.id).where(old.id > after, *where).order_by(old.id).limit(chunk)
        ids = list(db.session.scalars(delete(model).where(model.id.in_(batch)).returning(model.id)))
        purged += len(ids)
        if len(ids) < chunk or time.monotonic() >= deadline:
            return purged
        after = max(ids)


def not_latest_of_domain(model: Any, row: Any, at: str) -> Any:
    """True for a row that is not its domain's latest (by ``at``, then id): the rows a
    history purge may take, as the latest one is what the rest of the app reads."""
    newer = aliased(model)
    return exists().where(
        newer.tenant_id == row.tenant_id,
        newer.domain_id == row.domain_id,
        tuple_(getattr(newer, at), newer.id) > tuple_(getattr(row, at), row.id),
    )


def purge_domain_history(
    model: Any,
    at: str,
    retention_days: int,
    now: datetime,
    *,
    keep: Callable[[Any], Sequence[Any]] = lambda _row: (),
    chunk: int = PURGE_CHUNK,
    budget_seconds: float = PURGE_BUDGET_SECONDS,
) -> int:
    """Delete a per-domain history's rows older than ``retention_days`` (0: keep for ever),
    except each domain's latest and those ``keep(row)``'s conditions exclude; the count."""
    if retention_days <= 0:
        return 0
    cutoff = now - timedelta(days=retention_days)
    return purge_in_chunks(
        model,
        lambda row: (getattr(row, at) < cutoff, not_latest_of_domain(model, row, at), *keep(row)),
        chunk=chunk,
        budget_seconds=budget_seconds,
    )
