"""Plain words for the console: what stages, severities and numbers mean to a service-desk
technician (a code may stand beside its sentence, never alone)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

STAGE_WORDS = {
    "none": "no DMARC policy yet",
    "monitor": "monitoring (p=none)",
    "quarantine_test": "testing quarantine",
    "quarantine": "quarantine (spam folder)",
    "reject_test": "testing reject",
    "reject": "reject (fully protected)",
    "parked": "parked (sends no mail)",
    "not evaluated": "not evaluated yet",
}
SEVERITY_WORDS = {"error": "broken", "warning": "needs attention", "info": "for information"}


def stage_words(stage: str | None) -> str:
    return STAGE_WORDS.get(stage or "none", (stage or "none").replace("_", " "))


def severity_words(severity: str) -> str:
    return SEVERITY_WORDS.get(severity, severity)


def percent(share: float | None) -> str:
    return "no mail yet" if share is None else f"{share * 100:.1f}%"


def local_time(moment: datetime | None, timezone: str, fmt: str = "%d %b %Y %H:%M") -> str:
    """``moment`` (UTC) in the tenant's time zone, with the zone named."""
    if moment is None:
        return "never"
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return f"{moment.astimezone(zone).strftime(fmt)} ({timezone})"


FILTERS: dict[str, Callable[..., str]] = {
    "stage_words": stage_words,
    "severity_words": severity_words,
    "percent": percent,
    "local_time": local_time,
}
