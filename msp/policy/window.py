"""The tenant's change window: when, in its time zone, approved records are issued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from msp.policy.settings import ChangeWindow


def next_window_start(now: datetime, timezone: str, window: ChangeWindow) -> datetime:
    """``now`` when it falls inside a window, otherwise the start of the next one (UTC).

    Local wall-clock times are resolved with the zone's rules, so a window keeps its local
    hour across daylight-saving changes.
    """
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    for offset in range(-1, 8):
        day = (local + timedelta(days=offset)).date()
        if day.weekday() not in window.days:
            continue
        # aware + timedelta is wall-clock arithmetic: the window keeps its local hour
        local_start = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(
            minutes=window.start_minute
        )
        start = local_start.astimezone(UTC)
        end = (local_start + timedelta(hours=window.hours)).astimezone(UTC)
        if start <= now < end:
            return now.astimezone(UTC)
        if start > now:
            return start
    raise ValueError("change window has no days")  # validation forbids an empty day list
