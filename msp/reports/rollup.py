"""Spreading a report's messages over calendar days (UTC) for the daily roll-ups.

A report covering one day or less is counted on the day holding its midpoint. A longer report is
split in proportion to the seconds it spends in each day, with largest-remainder rounding so the
per-day counts always add up to the record's count (the same rule parsedmarc uses).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

DAY = timedelta(days=1)


def report_days(begin: datetime, end: datetime) -> list[tuple[date, float]]:
    """(day, share) pairs for a report interval; the shares add up to 1."""
    span = (end - begin).total_seconds()
    if span <= DAY.total_seconds():
        return [((begin + (end - begin) / 2).astimezone(UTC).date(), 1.0)]
    out = []
    cursor = datetime.combine(begin.astimezone(UTC).date(), time(), tzinfo=UTC)
    while cursor < end:
        overlap = (min(end, cursor + DAY) - max(begin, cursor)).total_seconds()
        if overlap > 0:
            out.append((cursor.date(), overlap / span))
        cursor += DAY
    return out


def day_span(begin: datetime, end: datetime) -> tuple[date, date]:
    """The first and last day of :func:`report_days`, without building the list."""
    if (end - begin) <= DAY:
        day = (begin + (end - begin) / 2).astimezone(UTC).date()
        return day, day
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    return begin.astimezone(UTC).date(), last


def split_count(count: int, shares: list[tuple[date, float]]) -> list[tuple[date, int]]:
    """Distribute ``count`` over days by share; exact total, no zero entries."""
    if len(shares) == 1:
        return [(shares[0][0], count)] if count else []
    exact = [count * share for _day, share in shares]
    floors = [int(x) for x in exact]
    remainder = count - sum(floors)
    order = sorted(range(len(shares)), key=lambda i: exact[i] - floors[i], reverse=True)
    for index in order[:remainder]:
        floors[index] += 1
    return [(day, n) for (day, _share), n in zip(shares, floors, strict=True) if n]
