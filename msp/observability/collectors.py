"""Scrape-time collectors that read shared state, so any web process reports every process:
job runs and durations (Redis counters written by workers) and queue depth (RQ's registries).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from redis import Redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from msp.observability.jobstats import JobStats

log = logging.getLogger(__name__)

# RQ registry per state; "queued" is the queue itself. Counted without RQ's cleanup, which
# would move jobs between registries: a scrape must not change what it measures.
_REGISTRIES: dict[str, Callable[[Queue], object]] = {
    "started": lambda q: q.started_job_registry,
    "scheduled": lambda q: q.scheduled_job_registry,
    "deferred": lambda q: q.deferred_job_registry,
    "failed": lambda q: q.failed_job_registry,
}


class JobStatsCollector(Collector):
    """``msp_jobs_total`` and ``msp_job_duration_seconds`` from the Redis counters."""

    def __init__(self, connection: Redis[bytes]) -> None:
        self.stats = JobStats(connection)

    def collect(self) -> Iterable[Metric]:
        snapshot = self.stats.snapshot()
        runs = CounterMetricFamily(
            "msp_jobs",
            "Jobs run by the workers, by queue, function and outcome.",
            labels=["queue", "func", "status"],
        )
        for run in snapshot.runs:
            runs.add_metric([run.queue, run.func, run.status], run.count)
        durations = HistogramMetricFamily(
            "msp_job_duration_seconds",
            "Time a job took, by queue and function.",
            labels=["queue", "func"],
        )
        for item in snapshot.durations:
            buckets = [
                (floatToGoString(bound), count)  # type: ignore[no-untyped-call]  # untyped helper
                for bound, count in item.buckets
            ]
            durations.add_metric([item.queue, item.func], buckets, item.total)
        yield runs
        yield durations


class QueueCollector(Collector):
    """``msp_queue_jobs{queue,state}`` and ``msp_queue_workers{queue}`` from RQ's keys."""

    def __init__(self, connection: Redis[bytes], queue_names: Iterable[str]) -> None:
        self.connection = connection
        self.queue_names = tuple(queue_names)

    def _queues(self) -> list[Queue]:
        names = set(self.queue_names)
        names.update(q.name for q in Queue.all(connection=self.connection))
        return [
            Queue(name, connection=self.connection, serializer=JSONSerializer)
            for name in sorted(names)
        ]

    def collect(self) -> Iterable[Metric]:
        jobs = GaugeMetricFamily(
            "msp_queue_jobs",
            "Jobs per queue and state (queued = waiting for a worker).",
            labels=["queue", "state"],
        )
        workers = GaugeMetricFamily(
            "msp_queue_workers", "RQ workers listening on the queue.", labels=["queue"]
        )
        for queue in self._queues():
            jobs.add_metric([queue.name, "queued"], queue.count)
            for state, registry in _REGISTRIES.items():
                count = registry(queue).get_job_count(cleanup=False)  # type: ignore[attr-defined]
                jobs.add_metric([queue.name, state], count)
            workers.add_metric([queue.name], Worker.count(connection=self.connection, queue=queue))
        yield jobs
        yield workers


class GuardedCollectors(Collector):
    """Runs each named collector; one that fails (Redis or the database down) is left out of
    the scrape and reported as ``msp_scrape_source_up{source="..."} 0``, so the rest of the
    metrics (and the alert on the failing source) still reach Prometheus."""

    def __init__(self, sources: Sequence[tuple[str, Collector]]) -> None:
        self.sources = tuple(sources)

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "msp_scrape_source_up", "1 when the source answered this scrape.", labels=["source"]
        )
        for name, collector in self.sources:
            try:
                metrics = list(collector.collect())
            except Exception as exc:  # a failing source is reported, never a failed scrape
                log.warning("metrics source %s failed: %s: %s", name, type(exc).__name__, exc)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from metrics
        yield up
