"""Metrics and logs in-process: job counters in Redis, queue depth, figures from rows, the
/metrics route labels, request and job ids on JSON log lines, and worker sizing."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from msp import create_app
from msp.extensions import db
from msp.observability import job_logging, observe_job
from msp.observability.business import (
    CACHE_KEY,
    FIGURES,
    BusinessCollector,
    RowCount,
    count_rows,
)
from msp.observability.jobstats import DURATION_BUCKETS, JobStats
from msp.serving import available_cpus, default_workers
from tests.conftest import test_config as app_config
from tests.factories import make_tenant
from tests.support.net import free_port


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Apps with their own settings; their connection pools are closed afterwards."""
    made: list[Flask] = []

    def make(redis_url: str, **extra: Any) -> Flask:
        made.append(create_app(app_config(database_url, redis_url, **extra)))
        return made[-1]

    yield make
    for application in made:
        with application.app_context():
            db.engine.dispose()


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_job_durations_become_a_cumulative_histogram_per_queue_and_function(
    redis_conn: Redis,
) -> None:
    stats = JobStats(redis_conn)
    for seconds, status in [
        (0.01, "finished"),
        (0.3, "finished"),
        (7.0, "failed"),
        (4000.0, "finished"),
    ]:
        stats.record("checks", "check_domain", seconds, status)
    stats.record("reports", "ingest", 0.2, "finished")
    snapshot = stats.snapshot()
    assert {(r.queue, r.func, r.status): r.count for r in snapshot.runs} == {
        ("checks", "check_domain", "finished"): 3,
        ("checks", "check_domain", "failed"): 1,
        ("reports", "ingest", "finished"): 1,
    }
    checks = next(d for d in snapshot.durations if d.func == "check_domain")
    cumulative = dict(checks.buckets)
    assert cumulative[0.05] == 1 and cumulative[0.5] == 2 and cumulative[10.0] == 3
    assert cumulative[DURATION_BUCKETS[-1]] == 3 and cumulative[math.inf] == 4
    assert checks.count == 4 and checks.total == pytest.approx(4007.31)


def test_metrics_show_jobs_recorded_by_the_job_hook_and_queue_depth(
    app: Flask, client: Any, redis_conn: Redis
) -> None:
    with app.app_context():
        observe_job("notifications", "send_delivery", 0.4, "finished")
        observe_job("notifications", "send_delivery", 0.6, "failed")
    queue = Queue("checks", connection=redis_conn, serializer=JSONSerializer)
    for domain_id in range(3):
        queue.enqueue("workers.dns.check_domain", kwargs={"domain_id": domain_id})
    text = client.get("/metrics").get_data(as_text=True)
    runs = _samples(text, "msp_jobs_total")
    assert runs[(("func", "send_delivery"), ("queue", "notifications"), ("status", "failed"))] == 1
    depth = _samples(text, "msp_queue_jobs")
    assert depth[(("queue", "checks"), ("state", "queued"))] == 3
    assert depth[(("queue", "reports"), ("state", "queued"))] == 0


def test_job_hook_never_fails_a_job_when_redis_is_down(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(f"redis://127.0.0.1:{free_port()}/0")
    # migrations/env.py runs logging.config.fileConfig with disable_existing_loggers=True,
    # which silences every logger created before the session's migrations ran.
    logging.getLogger("msp.observability").disabled = False
    with app.app_context(), caplog.at_level(logging.WARNING):
        observe_job("checks", "check_domain", 1.0, "finished")
    assert "could not record metrics for job check_domain" in caplog.text


def test_http_metrics_label_routes_by_rule_not_raw_path(client: Any) -> None:
    client.get("/api/v1/tenants/4242")
    client.get("/api/v1/tenants/4343")
    client.get("/no/such/page/98765")
    text = client.get("/metrics").get_data(as_text=True)
    routes = {dict(k)["route"] for k in _samples(text, "msp_http_requests_total")}
    assert "/api/v1/tenants/<int:tenant_id>" in routes
    assert "<unmatched>" in routes
    assert not any("4242" in r or "98765" in r for r in routes)
    assert "/metrics" not in routes, "scrapes do not count themselves"


def test_requests_refused_by_the_auth_hook_still_get_an_id_and_a_count(client: Any) -> None:
    refused = client.get("/api/v1/tenants", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401
    assert refused.headers["X-Request-ID"]
    text = client.get("/metrics").get_data(as_text=True)
    counted = _samples(text, "msp_http_requests_total")
    key = (("method", "GET"), ("route", "/api/v1/tenants"), ("status", "401"))
    assert counted.get(key, 0) >= 1


def test_figures_count_rows_by_label_and_skip_missing_tables(db_session: Any) -> None:
    make_tenant(plan="pro")
    make_tenant(plan="pro")
    make_tenant(plan="free")
    db_session.flush()
    figures = [
        RowCount("msp_tenants", "Tenants by plan.", "tenant", "plan", "plan"),
        RowCount("msp_missing", "Not there yet.", "no_such_table"),
        RowCount("msp_wrong_shape", "Column missing.", "tenant", "kind", "no_column"),
    ]
    samples = count_rows(db_session.connection(), figures)
    counts = {s.labels: s.value for s in samples if s.metric == "msp_tenants"}
    assert counts[(("plan", "pro"),)] >= 2 and counts[(("plan", "free"),)] >= 1
    assert {s.metric for s in samples} == {"msp_tenants"}


def test_every_default_figure_reads_a_table_and_column_the_migrations_create(
    db_session: Any,
) -> None:
    inspector = sa.inspect(db_session.connection())
    for figure in FIGURES:
        columns = {c["name"] for c in inspector.get_columns(figure.table)}
        assert figure.label_column in columns, figure


def test_figures_are_counted_once_per_interval_through_the_redis_cache(
    app: Flask, redis_conn: Redis
) -> None:
    figures = [RowCount("msp_tenants", "Tenants.", "tenant")]
    with app.app_context():
        collector = BusinessCollector(db.engine, redis_conn, figures)
        first = collector.samples()
        assert redis_conn.ttl(CACHE_KEY) > 0
        redis_conn.set(
            CACHE_KEY, json.dumps([{"metric": "msp_tenants", "labels": [], "value": 987}])
        )
        assert [s.value for s in collector.samples()] == [987]
    assert len(first) == 1


def test_metrics_need_the_scrape_password_when_one_is_configured(
    app: Flask, make_app: Callable[..., Flask], redis_url: str
) -> None:
    secured = make_app(redis_url, METRICS_TOKEN="scrape-secret")
    client = secured.test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401 and "Basic" in refused.headers["WWW-Authenticate"]
    assert client.get("/metrics", auth=("metrics", "wrong")).status_code == 401
    allowed = client.get("/metrics", auth=("metrics", "scrape-secret"))
    assert allowed.status_code == 200 and b"msp_queue_jobs" in allowed.data
    up = _samples(allowed.get_data(as_text=True), "msp_scrape_source_up")
    assert set(up.values()) == {1.0}


def test_scrape_still_answers_when_redis_is_down_and_says_which_source_failed(
    make_app: Callable[..., Flask],
) -> None:
    broken = make_app(f"redis://127.0.0.1:{free_port()}/0")
    response = broken.test_client().get("/metrics")
    assert response.status_code == 200
    up = _samples(response.get_data(as_text=True), "msp_scrape_source_up")
    assert up[(("source", "jobs"),)] == 0 and up[(("source", "queues"),)] == 0
    assert up[(("source", "database"),)] == 1, "figures are counted without the cache"
    assert "msp_http_requests_total" in response.get_data(as_text=True)


def _log_app(make_app: Callable[..., Flask], redis_url: str) -> Flask:
    app = make_app(redis_url, LOG_FORMAT="json")

    @app.get("/_test/log")
    def write_log() -> str:
        logging.getLogger("msp.test").info("inside the request", extra={"domain_id": 7})
        return "ok"

    return app


def test_json_log_lines_carry_the_request_id_and_the_job_id(
    make_app: Callable[..., Flask], redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _log_app(make_app, redis_url)
    response = app.test_client().get("/_test/log", headers={"X-Request-ID": "req-77"})
    assert response.headers["X-Request-ID"] == "req-77"
    with job_logging("job-abc"):
        logging.getLogger("msp.test").warning("inside the job")
    logging.getLogger("msp.test").warning("outside")
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    by_message = {entry["message"]: entry for entry in lines}
    assert by_message["inside the request"]["request_id"] == "req-77"
    assert by_message["inside the request"]["domain_id"] == 7
    assert by_message["inside the job"]["job_id"] == "job-abc"
    assert "job_id" not in by_message["outside"] and "request_id" not in by_message["outside"]


def test_app_logging_is_replaced_not_stacked_when_apps_are_created_again(
    make_app: Callable[..., Flask], redis_url: str
) -> None:
    for _ in range(3):
        make_app(redis_url)
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "StderrHandler"]
    assert len(ours) == 1


@pytest.mark.parametrize(
    ("cpu_max", "affinity_bound", "expected"),
    [
        ("max 100000\n", False, None),
        ("200000 100000\n", True, 2),
        ("50000 100000\n", True, 1),
    ],
)
def test_cpus_follow_the_container_cpu_quota(
    tmp_path: Path, cpu_max: str, affinity_bound: bool, expected: int | None
) -> None:
    import os

    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    affinity = len(os.sched_getaffinity(0))
    cpus = available_cpus(str(path))
    assert cpus == (min(expected, affinity) if expected else affinity)
    assert available_cpus(str(tmp_path / "absent")) == affinity


def test_default_worker_count_is_two_per_cpu_plus_one_capped() -> None:
    assert [default_workers(n) for n in (1, 2, 3, 16)] == [3, 5, 7, 8]
