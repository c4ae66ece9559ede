"""The process's own metric objects (HTTP requests and latency) and multiprocess mode.

gunicorn runs several worker processes per pod; with ``PROMETHEUS_MULTIPROC_DIR`` set (``msp web``
sets it before forking), every process writes its samples to mmap files there and a scrape
merges them, so any worker answering ``/metrics`` reports the whole pod. Without it (tests,
``flask run``, the standalone mode) the samples live in this process.

Metric objects are created on first use, not at import: prometheus_client picks the value class
(in-memory or mmap file) when a metric is constructed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class HttpMetrics:
    requests: Counter
    latency: Histogram


_lock = threading.Lock()
_http: HttpMetrics | None = None
_local_registry: CollectorRegistry | None = None


def multiprocess_dir() -> str | None:
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and os.path.isdir(path) else None


def _use_multiprocess_values() -> None:
    # prometheus_client chose its value class when it was first imported; `msp web` sets the
    # directory later (in the same process, before forking), so choose again.
    if multiprocess_dir() and not getattr(values.ValueClass, "_multiprocess", True):
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]  # prometheus_client ships no types for it


def http_metrics() -> HttpMetrics:
    """The request counter and latency histogram, created once per process."""
    global _http, _local_registry
    with _lock:
        if _http is None:
            _use_multiprocess_values()
            _local_registry = CollectorRegistry(auto_describe=True)
            _http = HttpMetrics(
                requests=Counter(
                    "msp_http_requests",
                    "HTTP requests answered, by method, route and status.",
                    ["method", "route", "status"],
                    registry=_local_registry,
                ),
                latency=Histogram(
                    "msp_http_request_duration_seconds",
                    "Time to answer an HTTP request.",
                    ["method", "route"],
                    buckets=LATENCY_BUCKETS,
                    registry=_local_registry,
                ),
            )
        return _http


class ProcessLocalCollector(Collector):
    """The HTTP samples: merged from every process's files, or this process's own."""

    def collect(self) -> Iterable[Metric]:
        path = multiprocess_dir()
        if path:
            merged = CollectorRegistry()
            MultiProcessCollector(merged, path=path)  # type: ignore[no-untyped-call]  # prometheus_client ships no types for it
            yield from merged.collect()
            return
        http_metrics()
        if _local_registry is not None:
            yield from _local_registry.collect()


def prepare_multiprocess_dir(path: str) -> None:
    """Empty ``path`` (files of a previous run would be merged forever) and point at it."""
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
    os.environ[MULTIPROC_ENV] = path


def worker_exited(pid: int) -> None:
    """gunicorn's ``child_exit`` hook: drop the dead worker's live gauges."""
    if multiprocess_dir():
        mark_process_dead(pid)  # type: ignore[no-untyped-call]  # prometheus_client ships no types for it
