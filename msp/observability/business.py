"""Business figures computed from database rows at scrape time: reports ingested and rejected,
checks run, notifications sent and failed.

Each figure is a row count (optionally split by one column) of a table owned by another area.
Tables appear as those areas land, so a figure whose table does not exist yet is skipped, not
an error. The counts are cached in Redis for a few seconds: every web pod may be scraped, and
the database should count once per interval, not once per pod.

The figures are gauges of rows stored, not counters: a retention purge lowers them, and a
Prometheus counter that goes down would be read as a reset.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis, RedisError
from sqlalchemy import Connection, Engine, column, func, inspect, select, table
from sqlalchemy.sql.expression import ColumnClause

CACHE_KEY = "msp:metrics:business"
# Counting scans the tables: once a minute across all pods is plenty for these figures.
CACHE_SECONDS = 60


@dataclass(frozen=True)
class RowCount:
    """``metric`` = rows of ``table``, split by ``label_column`` (exposed as ``label``)."""

    metric: str
    help: str
    table: str
    label: str | None = None
    label_column: str | None = None


@dataclass(frozen=True)
class Sample:
    metric: str
    labels: tuple[tuple[str, str], ...]
    value: int


FIGURES: tuple[RowCount, ...] = (
    RowCount(
        "msp_reports_ingested",
        "Reports parsed and stored (each counted once), by kind (aggregate, failure, tls).",
        "report",
        "kind",
        "kind",
    ),
    RowCount(
        "msp_report_files",
        "Report files received, by outcome (ingested, rejected, unrouted, pending, ...).",
        "report_raw",
        "status",
        "status",
    ),
    RowCount(
        "msp_dns_checks_run",
        "DNS posture checks run, by resulting grade.",
        "dns_posture_run",
        "grade",
        "grade",
    ),
    RowCount(
        "msp_notifications",
        "Notification deliveries, by status (sent, failed, pending, ...).",
        "notification_delivery",
        "status",
        "status",
    ),
)


def count_rows(connection: Connection, figures: Sequence[RowCount]) -> list[Sample]:
    """Count every figure whose table (and column) exists; skip the others."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    samples: list[Sample] = []
    for figure in figures:
        if figure.table not in tables:
            continue
        columns = {c["name"] for c in inspector.get_columns(figure.table)}
        samples.extend(_count(connection, figure, columns))
    return samples


def _count(connection: Connection, figure: RowCount, columns: set[str]) -> list[Sample]:
    source = table(figure.table)
    if figure.label_column and figure.label_column not in columns:
        return []  # not the shape this figure expects (yet): report nothing rather than guess
    if figure.label and figure.label_column:
        key: ColumnClause[Any] = column(figure.label_column)
        rows = connection.execute(select(key, func.count()).select_from(source).group_by(key))
        return [
            Sample(figure.metric, ((figure.label, str(value)),), int(count))
            for value, count in rows
        ]
    total = connection.execute(select(func.count()).select_from(source)).scalar_one()
    return [Sample(figure.metric, (), int(total))]


class BusinessCollector(Collector):
    """Yields one gauge per figure, from a short Redis cache or a fresh count."""

    def __init__(
        self, engine: Engine, cache: Redis[bytes] | None, figures: Sequence[RowCount] = FIGURES
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.figures = figures

    def samples(self) -> list[Sample]:
        cached = self._cached()
        if cached is not None:
            return cached
        with self.engine.connect() as connection:
            samples = count_rows(connection, self.figures)
        self._store(samples)
        return samples

    def _cached(self) -> list[Sample] | None:
        if self.cache is None:
            return None
        try:
            raw = self.cache.get(CACHE_KEY)
        except RedisError:  # no cache: count from the database instead
            return None
        if not raw:
            return None
        return [
            Sample(s["metric"], tuple((k, v) for k, v in s["labels"]), s["value"])
            for s in json.loads(raw)
        ]

    def _store(self, samples: list[Sample]) -> None:
        if self.cache is None:
            return
        payload = [{"metric": s.metric, "labels": s.labels, "value": s.value} for s in samples]
        with contextlib.suppress(RedisError):
            self.cache.set(CACHE_KEY, json.dumps(payload), ex=CACHE_SECONDS)

    def collect(self) -> Iterable[Metric]:
        samples = self.samples()
        for figure in self.figures:
            labels = [figure.label] if figure.label else []
            family = GaugeMetricFamily(figure.metric, figure.help, labels=labels)
            for sample in samples:
                if sample.metric == figure.metric:
                    family.add_metric([v for _, v in sample.labels][: len(labels)], sample.value)
            yield family
