"""When a team hears about an event: quiet hours, the daily summary, duplicate suppression.

- **Quiet hours** (a team's ``quiet_start``..``quiet_end`` local hours in the tenant's time
  zone): a delivery made inside them waits until they end; ``critical`` ones go at once.
- **Daily summary** (a team's ``summary_mode``): events are collected and sent as one message
  a day at ``summary_hour`` local time; ``critical`` ones still go at once.
- **Duplicate suppression** (:func:`suppress`): the same open problem (a domain's finding code)
  notifies once, then again only when it changes or is resolved; a problem that closes within
  an hour of opening, or reopens within an hour of closing (a flapping record), pages no one a
  second time.

The decisions are pure functions of the clock (``now``), so tests pass any time they like.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from msp.events import Event
from msp.extensions import db
from msp.notifications.models import ProblemState

CRITICAL = "critical"
FLAP_WINDOW = timedelta(hours=1)
OPENED, CLOSED = "dns.finding.opened", "dns.finding.closed"


@dataclass(frozen=True)
class Hours:
    """A team's delivery hours: quiet hours and the daily summary, in ``timezone``."""

    timezone: str
    quiet_start: int | None = None
    quiet_end: int | None = None
    summary: bool = False
    summary_hour: int = 8


def _in_quiet(hour: int, start: int, end: int) -> bool:
    return start <= hour < end if start < end else hour >= start or hour < end


def quiet_until(hours: Hours, now: datetime) -> datetime | None:
    """When the quiet hours around ``now`` end; None when ``now`` is not inside them."""
    start, end = hours.quiet_start, hours.quiet_end
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(ZoneInfo(hours.timezone))
    if not _in_quiet(local.hour, start, end):
        return None
    ends = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends


def next_summary(hours: Hours, now: datetime) -> datetime:
    """The next daily summary time after ``now``."""
    local = now.astimezone(ZoneInfo(hours.timezone))
    at = local.replace(hour=hours.summary_hour, minute=0, second=0, microsecond=0)
    return at if at > local else at + timedelta(days=1)


def hold_until(hours: Hours, severity: str, now: datetime) -> tuple[datetime | None, bool]:
    """(when to send, whether it joins the daily summary); (None, False): send now."""
    if severity == CRITICAL:
        return None, False
    if hours.summary:
        return next_summary(hours, now), True
    return quiet_until(hours, now), False


def problem_key(event: Event) -> str | None:
    """The problem an event opens or closes (a domain's finding code), if it is one."""
    code = (event.payload or {}).get("code")
    if event.kind not in (OPENED, CLOSED) or not isinstance(code, str) or not event.domain_id:
        return None
    return f"finding:{event.domain_id}:{code}"


def _fingerprint(payload: dict[str, Any]) -> str:
    shown = {k: payload.get(k) for k in ("severity", "message", "detail")}
    return hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()


def _state(tenant_id: int, key: str) -> ProblemState | None:
    return db.session.scalar(
        select(ProblemState)
        .where(ProblemState.tenant_id == tenant_id, ProblemState.key == key)
        .with_for_update()
    )


def _opened(state: ProblemState | None, event: Event, key: str, now: datetime) -> bool:
    fingerprint = _fingerprint(dict(event.payload or {}))
    if state is None:
        db.session.add(
            ProblemState(
                tenant_id=event.tenant_id,
                key=key,
                fingerprint=fingerprint,
                opened_at=now,
                notified_at=now,
                notified_open=True,
            )
        )
        return False
    flapping = (
        not state.is_open
        and state.closed_at is not None
        and (now - state.closed_at < FLAP_WINDOW and state.notified_open)
    )
    same = state.is_open and state.fingerprint == fingerprint
    if not state.is_open:
        state.is_open, state.opened_at, state.closed_at = True, now, None
    state.fingerprint = fingerprint
    if same or flapping:
        return True
    state.notified_at, state.notified_open = now, True
    return False


def _closed(state: ProblemState | None, now: datetime) -> bool:
    if state is None or not state.is_open:
        return True  # nothing open was told: nothing to resolve
    state.is_open, state.closed_at = False, now
    if now - state.opened_at < FLAP_WINDOW:
        return True  # opened and closed within the hour: the opening was the one page
    state.notified_at, state.notified_open = now, False
    return False


def suppress(event: Event, now: datetime) -> bool:
    """Whether ``event`` repeats what its teams were told already (and records what it says)."""
    key = problem_key(event)
    if key is None:
        return False
    state = _state(event.tenant_id, key)
    if event.kind == OPENED:
        return _opened(state, event, key, now)
    return _closed(state, now)
