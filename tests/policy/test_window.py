"""The change window in the tenant's time zone, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from msp.policy.settings import ChangeWindow
from msp.policy.window import next_window_start

MON_THU_10_TO_14 = ChangeWindow(days=(0, 1, 2, 3), start_minute=600, hours=4)


@pytest.mark.parametrize(
    ("now", "timezone", "expected"),
    [
        # Wednesday 05:00 UTC = 07:00 in Berlin (summer): the window opens at 10:00 local
        (datetime(2026, 6, 10, 5, 0), "Europe/Berlin", datetime(2026, 6, 10, 8, 0)),
        # inside the window: now
        (datetime(2026, 6, 10, 9, 0), "Europe/Berlin", datetime(2026, 6, 10, 9, 0)),
        # Thursday after the window: next Monday
        (datetime(2026, 6, 11, 13, 0), "Europe/Berlin", datetime(2026, 6, 15, 8, 0)),
        # Friday in New York: Monday 10:00 EDT
        (datetime(2026, 6, 12, 15, 0), "America/New_York", datetime(2026, 6, 15, 14, 0)),
        # the window keeps its local hour after the autumn change (CEST -> CET on Oct 25)
        (datetime(2026, 10, 22, 13, 0), "Europe/Berlin", datetime(2026, 10, 26, 9, 0)),
        # Sunday 23:30 local in Auckland is still Sunday: Monday 10:00 NZST
        (datetime(2026, 6, 14, 11, 30), "Pacific/Auckland", datetime(2026, 6, 14, 22, 0)),
    ],
)
def test_next_window_start_in_local_time(now: datetime, timezone: str, expected: datetime) -> None:
    start = next_window_start(now.replace(tzinfo=UTC), timezone, MON_THU_10_TO_14)
    assert start == expected.replace(tzinfo=UTC)
