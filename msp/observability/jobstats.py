"""Job counts and durations per queue, kept in Redis so every process sees every worker's jobs.

Worker pods and web pods are separate processes (often separate machines): a worker records
each job run with :meth:`JobStats.record` (a few ``HINCRBY`` in one MULTI), and whichever web
process is scraped reads the totals back with :meth:`JobStats.snapshot`. Counters only grow, as
Prometheus counters should; if Redis is flushed they restart from zero, which Prometheus reads
as a counter reset.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass, field

from redis import Redis

COUNTS_KEY = "msp:metrics:job_runs"
DURATIONS_KEY = "msp:metrics:job_seconds"
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_SEP = "\x1f"  # cannot occur in queue or function names


@dataclass(frozen=True)
class JobRunCount:
    queue: str
    func: str
    status: str
    count: int


@dataclass(frozen=True)
class JobDurations:
    """A histogram for one (queue, func): cumulative counts per upper bound, as Prometheus wants."""

    queue: str
    func: str
    buckets: tuple[tuple[float, int], ...]  # (upper bound, cumulative count), ending with +Inf
    total: float
    count: int


@dataclass(frozen=True)
class JobStatsSnapshot:
    runs: tuple[JobRunCount, ...]
    durations: tuple[JobDurations, ...]


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0


def bucket_index(seconds: float) -> int:
    """Index of the smallest bucket whose upper bound is >= ``seconds`` (the last one is +Inf)."""
    return bisect.bisect_left(DURATION_BUCKETS, seconds)


class JobStats:
    """Reads and writes the job counters on one Redis connection."""

    def __init__(self, connection: Redis[bytes]) -> None:
        self.connection = connection

    def record(self, queue: str, func: str, seconds: float, status: str) -> None:
        seconds = max(0.0, seconds)
        prefix = f"{queue}{_SEP}{func}{_SEP}"
        with self.connection.pipeline(transaction=True) as pipe:
            pipe.hincrby(COUNTS_KEY, f"{prefix}{status}", 1)
            pipe.hincrby(DURATIONS_KEY, f"{prefix}b{bucket_index(seconds)}", 1)
            pipe.hincrbyfloat(DURATIONS_KEY, f"{prefix}sum", seconds)
            pipe.execute()

    def snapshot(self) -> JobStatsSnapshot:
        with self.connection.pipeline(transaction=True) as pipe:
            pipe.hgetall(COUNTS_KEY)
            pipe.hgetall(DURATIONS_KEY)
            counts, durations = pipe.execute()
        return JobStatsSnapshot(runs=_runs(counts), durations=_durations(durations))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _runs(raw: dict[bytes, bytes]) -> tuple[JobRunCount, ...]:
    runs = []
    for key, value in raw.items():
        queue, func, status = _text(key).split(_SEP)
        runs.append(JobRunCount(queue, func, status, int(value)))
    return tuple(sorted(runs, key=lambda r: (r.queue, r.func, r.status)))


def _durations(raw: dict[bytes, bytes]) -> tuple[JobDurations, ...]:
    histograms: dict[tuple[str, str], _Histogram] = defaultdict(_Histogram)
    for key, value in raw.items():
        queue, func, part = _text(key).split(_SEP)
        histogram = histograms[(queue, func)]
        if part == "sum":
            histogram.total = float(value)
        else:
            histogram.buckets[int(part[1:])] = int(value)
    return tuple(_cumulative(queue, func, h) for (queue, func), h in sorted(histograms.items()))


def _cumulative(queue: str, func: str, histogram: _Histogram) -> JobDurations:
    bounds = (*DURATION_BUCKETS, math.inf)
    running, buckets = 0, []
    for bound, count in zip(bounds, histogram.buckets, strict=True):
        running += count
        buckets.append((bound, running))
    return JobDurations(queue, func, tuple(buckets), histogram.total, running)
