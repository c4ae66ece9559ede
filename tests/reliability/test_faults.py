"""Proof under faults: real ``msp worker`` and ``msp scheduler`` processes on the session's
database and Redis index, a backlog of generated reports, and a fault in the middle of it.

Each test counts what the database holds afterwards against what the generator wrote (every
report exactly once) and measures how long the platform took to finish by itself. The module
prints a summary table at the end and writes it to tests/artifacts/reliability.md.

These tests commit to the session's database (worker processes cannot see a test transaction)
and delete what they created afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import delete, select

from msp import create_app
from msp.bootstrap import migrate_to_latest
from msp.extensions import db
from msp.reports import service
from msp.reports.models import IpInfo, RawReport, ReportRecord
from msp.tenancy.models import Tenant
from tests.conftest import LOCK_KEY, test_config
from tests.factories import make_domain, make_tenant
from tests.reliability.faults import (
    ARTIFACT,
    Backlog,
    Cluster,
    Outcome,
    Processes,
    counted,
    describe,
    free_port,
    generate,
    postgres_bindir,
    render,
    statuses,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.slow

REPORTS = 300
# Records per report: enough that a parse job (50 files) lasts long enough to be cut short.
RECORDS = "100:300"
RECOVERY_LIMIT = 60.0  # seconds from the fault to the whole backlog ingested


@pytest.fixture(scope="module")
def ledger(request: pytest.FixtureRequest) -> Iterator[list[Outcome]]:
    """The outcomes of the module's tests; printed and written to the artifact at the end."""
    outcomes: list[Outcome] = []
    yield outcomes
    if not outcomes:
        return
    table = render(outcomes)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(table)
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + table)


class World:
    """A tenant owning the generated domains, the backlog, and the processes of one test."""

    def __init__(self, app: Flask, backlog: Backlog, prefix: str, procs: Processes) -> None:
        self.app = app
        self.backlog = backlog
        self.prefix = prefix
        self.procs = procs
        self.domain_ids: list[int] = []
        self.tenant_id = 0

    def receive_all(self) -> None:
        """Store every file and enqueue its parse, as the API or a mailbox poll does."""
        for name, data in self.backlog.files:
            service.receive(data, source="cli", filename=name)
        db.session.commit()

    def ingested(self) -> int:
        return statuses(self.prefix).get("ingested", 0)

    def all_ingested(self) -> bool:
        return statuses(self.prefix) == {"ingested": len(self.backlog.files)}

    def result(self) -> dict[str, Any]:
        return describe(counted(self.domain_ids), self.backlog)


@pytest.fixture
def world(app: Flask, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    seed = 11 + len(request.node.name)  # another domain pool per test
    prefix = f"proof-{request.node.name[:20]}-"
    backlog = generate(tmp_path, seed=seed, reports=REPORTS, prefix=prefix, records=RECORDS)
    procs = Processes(worker_env(app), tmp_path)
    state = World(app, backlog, prefix, procs)
    with app.app_context():
        tenant = make_tenant(f"proof-{seed}")
        state.domain_ids = [make_domain(tenant, name).id for name in backlog.domains]
        state.tenant_id = tenant.id
        db.session.commit()
        try:
            yield state
        finally:
            procs.stop_all()
            cleanup(state)


def parsing(connection: Redis[bytes]) -> list[str]:
    """The parse jobs RQ marks as started (their job hashes, not the registry: read directly)."""
    found: list[str] = []
    for key in connection.scan_iter(match="rq:job:parse-raws-*", count=1000):
        if connection.hget(key, "status") == b"started":
            found.append(key.decode().removeprefix("rq:job:"))
    return found


def cleanup(state: World) -> None:
    db.session.rollback()
    ips = select(ReportRecord.source_ip).where(ReportRecord.domain_id.in_(state.domain_ids))
    db.session.execute(delete(IpInfo).where(IpInfo.ip.in_(ips)))
    db.session.execute(delete(RawReport).where(RawReport.filename.like(f"{state.prefix}%")))
    db.session.execute(delete(Tenant).where(Tenant.id == state.tenant_id))
    db.session.commit()


def test_a_worker_killed_mid_backlog_is_replaced_within_a_minute(
    world: World, ledger: list[Outcome], redis_conn: Redis[bytes]
) -> None:
    world.receive_all()
    world.procs.start("scheduler", "scheduler")
    # Kill a worker inside a parse job (not between two), so that job is left "started" for
    # ever; on a busy machine the job may finish between the look and the kill: try again.
    for attempt in range(3):
        first = world.procs.worker(f"proof-first-{attempt}")
        wait_for(
            lambda: bool(parsing(redis_conn)) and world.ingested() > 0,
            120,
            "the first worker to be inside its second parse job",
            poll=0.01,
        )
        Processes.kill(first)
        killed_at = time.monotonic()
        left = statuses(world.prefix).get("pending", 0)
        abandoned = parsing(redis_conn)
        if left > 0 and abandoned:
            break
    assert left > 0 and abandoned, f"no job was cut short: {left} pending, {abandoned}"
    world.procs.worker("proof-second")
    wait_for(world.all_ingested, RECOVERY_LIMIT + 30, "every report ingested after the kill")
    recovered = time.monotonic() - killed_at
    outcome = world.result()
    ledger.append(
        Outcome(
            "kill -9 of a worker mid-backlog",
            outcome["lost"] == 0 and outcome["doubled"] == 0 and recovered < RECOVERY_LIMIT,
            outcome["lost"],
            outcome["doubled"],
            recovered,
            f"{left} of {REPORTS} files pending at the kill, {', '.join(abandoned)} left started; "
            "a second worker started",
        )
    )
    assert outcome["found"] == outcome["expected"]
    assert recovered < RECOVERY_LIMIT


def test_redis_emptied_while_jobs_wait_is_rebuilt_from_postgresql(
    world: World, ledger: list[Outcome], redis_url: str
) -> None:
    world.receive_all()
    world.procs.start("scheduler", "scheduler")
    world.procs.worker("proof-only")
    wait_for(lambda: world.ingested() >= REPORTS // 5, 120, "the worker to ingest a fifth")
    redis = Redis.from_url(redis_url)
    lock = redis.get(LOCK_KEY)
    queued = redis.llen("rq:queue:reports")
    redis.flushdb()  # what a Redis restart without persistence leaves
    if lock is not None:
        redis.set(LOCK_KEY, lock, ex=6 * 3600)  # the session's claim on this index
    flushed_at = time.monotonic()
    left = statuses(world.prefix).get("pending", 0)
    assert left > 0 and queued > 0, "nothing was waiting when Redis was emptied"
    wait_for(world.all_ingested, RECOVERY_LIMIT + 30, "every report ingested after the flush")
    recovered = time.monotonic() - flushed_at
    outcome = world.result()
    ledger.append(
        Outcome(
            "Redis emptied (FLUSHDB) with jobs queued",
            outcome["lost"] == 0 and outcome["doubled"] == 0 and recovered < RECOVERY_LIMIT,
            outcome["lost"],
            outcome["doubled"],
            recovered,
            f"{queued} queued jobs and {left} pending files' jobs lost from Redis; no operator",
        )
    )
    assert outcome["found"] == outcome["expected"]
    assert recovered < RECOVERY_LIMIT


OUTAGE_SECONDS = 12.0


@pytest.fixture
def own_postgres() -> Iterator[Cluster]:
    bindir = postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin) to start a cluster")
    cluster = Cluster(bindir, free_port())
    try:
        cluster.init()
        yield cluster
    finally:
        cluster.remove()


def probe(client: FlaskClient) -> tuple[int, int, str, dict[str, Any]]:
    """(/readyz status, API status, API content type, API body) of one round."""
    ready = client.get("/readyz").status_code
    api = client.get("/api/v1/me", headers={"Authorization": "Bearer msp_unknown"})
    return ready, api.status_code, api.content_type, api.get_json(force=True, silent=True) or {}


def test_postgresql_unreachable_answers_503_and_recovers_by_itself(
    own_postgres: Cluster, redis_url: str, ledger: list[Outcome]
) -> None:
    outage_app = create_app(test_config(own_postgres.url, redis_url))
    outage_app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not raise
    with outage_app.app_context():
        migrate_to_latest()
        tenant_id = make_tenant("before-outage").id
        db.session.commit()
    client = outage_app.test_client()
    try:
        assert probe(client)[:2] == (200, 401)  # up: ready, and the token look-up answers
        own_postgres.stop()
        down_at = time.monotonic()
        answers = set()
        while time.monotonic() - down_at < OUTAGE_SECONDS:
            ready, status, ctype, body = probe(client)
            answers.add((ready, status, ctype, body.get("status")))
            time.sleep(1)
        own_postgres.start()
        up_at = time.monotonic()
        wait_for(lambda: probe(client)[:2] == (200, 401), 30, "the app to recover by itself")
        recovered = time.monotonic() - up_at
        with outage_app.app_context():
            kept = db.session.get(Tenant, tenant_id) is not None
    finally:
        with outage_app.app_context():
            db.engine.dispose()
    assert answers == {(503, 503, "application/problem+json", 503)}, answers
    ledger.append(
        Outcome(
            f"PostgreSQL stopped for {OUTAGE_SECONDS:.0f} s",
            kept and recovered < RECOVERY_LIMIT,
            0 if kept else 1,
            0,
            recovered,
            "/readyz and the API answered 503 problem documents throughout; "
            "time counted from the restart",
        )
    )
    assert kept, "a tenant committed before the outage is gone"
    assert recovered < RECOVERY_LIMIT
