"""Proof under faults: real ``msp worker``, ``msp scheduler`` and ``msp web`` processes on the
session's database and Redis index, a backlog of generated reports, and a fault in the middle
of it: a worker killed with SIGKILL in the middle of a job, Redis emptied, PostgreSQL unreachable
for a minute (a TCP proxy in front of it, cut).

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

import httpx
import pytest
from flask import Flask
from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import delete, select
from sqlalchemy.engine import make_url

from msp.auth.principal import Principal
from msp.auth.service import issue_token
from msp.db import utcnow
from msp.extensions import db
from msp.queues import REPORTS as REPORTS_QUEUE
from msp.queues import Dispatcher, JobRequest
from msp.reports import service, store
from msp.reports.models import IpInfo, RawReport, ReportRecord
from msp.reports.origin import Origin
from msp.reports.processing import PARSE_BUCKET
from msp.tenancy.models import Tenant
from tests.conftest import LOCK_KEY
from tests.factories import make_domain, make_tenant
from tests.reliability.faults import (
    ARTIFACT,
    Backlog,
    CuttableProxy,
    Outcome,
    Processes,
    counted,
    describe,
    generate,
    render,
    statuses,
    wait_for,
    worker_env,
)
from tests.support.net import free_port

pytestmark = pytest.mark.slow

REPORTS = 300
# Records per report: enough that a parse job (100 files) lasts long enough to be cut short.
RECORDS = "100:300"
# The kill and Redis tests' backlog: 1,000 reports, small (a parse job of 100 still takes long
# enough to be cut short, there are parse jobs still waiting after the first is done, and the
# whole backlog is less work than the 300 larger reports of the others).
KILL_REPORTS = 1000
KILL_RECORDS = "5:40"
RECOVERY_LIMIT = 60.0  # seconds from the fault to the whole backlog ingested
PICKUP_LIMIT = 60.0  # seconds from the kill to the abandoned parse job sent again
DRAIN_LIMIT = 300.0  # seconds from the kill to 1,000 reports ingested by the second worker


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

    def pending_in(self, job_ids: list[str]) -> list[int]:
        """The ids of this backlog's pending files in the id ranges of these parse jobs."""
        db.session.rollback()
        found: list[int] = []
        for job_id in job_ids:
            bucket = int(job_id.removeprefix("parse-raws-").split("-")[0])
            first = bucket * PARSE_BUCKET
            found += db.session.scalars(
                select(RawReport.id).where(
                    RawReport.id.between(first, first + PARSE_BUCKET - 1),
                    RawReport.status == "pending",
                    RawReport.filename.like(f"{self.prefix}%"),
                )
            )
        return found

    def pending_among(self, raw_ids: list[int]) -> list[int]:
        db.session.rollback()
        query = select(RawReport.id).where(RawReport.id.in_(raw_ids))
        return list(db.session.scalars(query.where(RawReport.status == "pending")))


@pytest.fixture
def world(app: Flask, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    seed = 11 + len(request.node.name)  # another domain pool per test
    prefix = f"proof-{request.node.name[:20]}-"
    reports, records = REPORTS, RECORDS
    if "killed" in request.node.name or "redis" in request.node.name:
        reports, records = KILL_REPORTS, KILL_RECORDS
    elif "postgresql" in request.node.name:
        reports, records = OUTAGE_REPORTS, KILL_RECORDS
    backlog = generate(tmp_path, seed=seed, reports=reports, prefix=prefix, records=records)
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
    # Kill a worker (it runs its jobs itself) inside a parse job (not between two), so that job
    # is left "started" for ever; the job may finish between the look and the kill: try again.
    # A job left "started" by an attempt that came too late covers no pending file, so the
    # next attempt waits for one that does.
    for attempt in range(3):
        first = world.procs.worker(f"proof-first-{attempt}")
        wait_for(
            lambda: world.ingested() > 0 and bool(world.pending_in(parsing(redis_conn))),
            120,
            "the worker to be inside a parse job with files still pending, after a first one",
            poll=0.01,
        )
        Processes.kill(first)  # asserts its children are dead too
        killed_at = time.monotonic()
        left = statuses(world.prefix).get("pending", 0)
        abandoned = parsing(redis_conn)
        cut_short = world.pending_in(abandoned)
        if cut_short:
            break
    assert cut_short, f"no job was cut short: {left} pending, {abandoned}"
    world.procs.worker("proof-second")
    buckets = [job_id.removeprefix("parse-raws-").split("-")[0] for job_id in abandoned]
    wait_for(
        lambda: all(recovery_jobs(redis_conn, b) for b in buckets),
        PICKUP_LIMIT + 30,
        "the abandoned parse job to be sent again",
    )
    picked_up = time.monotonic() - killed_at
    wait_for(
        lambda: not world.pending_among(cut_short), DRAIN_LIMIT, "the abandoned files ingested"
    )
    redone = time.monotonic() - killed_at
    wait_for(world.all_ingested, DRAIN_LIMIT, "every report ingested after the kill")
    drained = time.monotonic() - killed_at
    outcome = world.result()
    ledger.append(
        Outcome(
            f"kill -9 of a worker mid-backlog ({KILL_REPORTS} reports)",
            outcome["lost"] == 0 and outcome["doubled"] == 0 and picked_up < PICKUP_LIMIT,
            outcome["lost"],
            outcome["doubled"],
            picked_up,
            f"{left} of {KILL_REPORTS} files pending at the kill, {len(cut_short)} of them in "
            f"{', '.join(abandoned)} (left started, its worker killed); a second worker started; "
            "time to recover: the abandoned job sent again by the recovery sweep, to the head of "
            f"the queue; its files ingested after {redone:.0f} s, all after {drained:.0f} s",
        )
    )
    assert outcome["found"] == outcome["expected"]
    assert picked_up < PICKUP_LIMIT


def recovery_jobs(connection: Redis[bytes], bucket: str) -> list[bytes]:
    """The parse jobs the recovery sweep sent again for one id range."""
    return list(connection.scan_iter(match=f"rq:job:parse-raws-{bucket}-recover-*", count=1000))


def test_redis_emptied_while_jobs_wait_is_rebuilt_from_postgresql(
    world: World, ledger: list[Outcome], redis_url: str
) -> None:
    world.receive_all()
    world.procs.start("scheduler", "scheduler")
    world.procs.worker("proof-only")
    redis = Redis.from_url(redis_url)

    def work_done_and_waiting() -> bool:
        # Some reports in, parse jobs still queued and files still pending: the moment to
        # empty Redis (looked for, not assumed: on an idle machine the queue drains fast).
        return (
            world.ingested() >= 1
            and redis.llen("rq:queue:reports") > 0
            and statuses(world.prefix).get("pending", 0) > 0
        )

    wait_for(work_done_and_waiting, 120, "reports ingested while parse jobs still wait", poll=0.01)
    lock = redis.get(LOCK_KEY)
    queued = redis.llen("rq:queue:reports")
    redis.flushdb()  # what a Redis restart without persistence leaves
    if lock is not None:
        redis.set(LOCK_KEY, lock, ex=6 * 3600)  # the session's claim on this index
    flushed_at = time.monotonic()
    left = statuses(world.prefix).get("pending", 0)
    assert left > 0 and queued > 0, f"nothing was waiting when Redis was emptied ({left}, {queued})"
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


OUTAGE_SECONDS = 60.0
OUTAGE_REPORTS = 100
# The parse jobs reach the worker this long into the outage (as if they had waited behind a
# backlog): their first attempt fails, RQ retries after 30 s (msp.queues.RETRY_INTERVALS), by
# then PostgreSQL is back.
JOBS_AT = 35.0


def api_round(client: httpx.Client, token: str) -> tuple[int, int, str, str | None, Any]:
    """(/readyz, API status, API content type, Retry-After, problem status) of one round."""
    ready = client.get("/readyz").status_code
    api = client.get("/api/v1/tenants", headers={"Authorization": f"Bearer {token}"})
    body = api.json() if api.headers.get("content-type", "").endswith("json") else {}
    status = body.get("status") if isinstance(body, dict) else None
    return (
        ready,
        api.status_code,
        api.headers.get("content-type", ""),
        api.headers.get("retry-after"),
        status,
    )


def msp_admin_token() -> str:
    operator = Principal(kind="cli", id=0, label="cli", msp_role="msp_admin", all_tenants=True)
    issued = issue_token(
        operator, name="outage", tenant_id=None, role="msp_admin", days=1, now=utcnow()
    )
    db.session.commit()
    return issued.secret


def test_postgresql_unreachable_for_a_minute_under_msp_web(
    world: World, ledger: list[Outcome], redis_conn: Redis[bytes], tmp_path: Path
) -> None:
    """A real ``msp web`` (gunicorn) and ``msp worker`` reach PostgreSQL through a proxy the
    test cuts for a minute: /readyz and the API answer 503 problem documents with Retry-After
    throughout, the parse jobs that meet the outage fail and are retried, everything comes back
    by itself, and what was accepted before the outage is all there, once."""
    server = make_url(str(world.app.config["SQLALCHEMY_DATABASE_URI"]))
    proxy = CuttableProxy((server.host or "127.0.0.1", server.port or 5432))
    proxy.start()
    through = server.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    procs = Processes({**world.procs.env, "MSP_DATABASE_URL": through}, tmp_path)
    token = msp_admin_token()
    # Accepted before the outage: the backlog's files, stored (their jobs come later) ...
    raw_ids = [
        store.store_raw(data, Origin("cli", filename=name)).id for name, data in world.backlog.files
    ]
    db.session.commit()
    port = free_port()
    procs.start("web", "web", f"--bind=127.0.0.1:{port}", "--workers=2", "--threads=2")
    procs.worker("outage-worker")
    retrying = Dispatcher(redis_conn, retries=3)  # the jobs' retry policy in production
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            wait_for(lambda: http_up(client), 240, "msp web to answer /readyz")
            # ... and a tenant created through the API.
            made = client.post(
                "/api/v1/tenants",
                json={"slug": "made-before-outage", "name": "Made before the outage"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert made.status_code == 201, made.text
            assert api_round(client, token)[:2] == (200, 200)
            proxy.cut()
            down_at = time.monotonic()
            answers, sent = set(), False
            while time.monotonic() - down_at < OUTAGE_SECONDS:
                answers.add(api_round(client, token))
                if not sent and time.monotonic() - down_at >= JOBS_AT:
                    for first in sorted({i // PARSE_BUCKET * PARSE_BUCKET for i in raw_ids}):
                        retrying.send(parse_job(first))
                    sent = True
                time.sleep(1)
            proxy.restore()
            up_at = time.monotonic()
            wait_for(lambda: api_round(client, token)[:2] == (200, 200), 60, "the API to recover")
            recovered = time.monotonic() - up_at
            kept = client.get(
                f"/api/v1/tenants/{made.json()['id']}",
                headers={"Authorization": f"Bearer {token}"},
            )
        wait_for(world.all_ingested, 120, "every report ingested after the outage")
        ingested = time.monotonic() - up_at
    finally:
        procs.stop_all()
        proxy.cut()
        db.session.rollback()
        db.session.execute(delete(Tenant).where(Tenant.slug == "made-before-outage"))
        db.session.commit()
    retried = [
        j for j in parse_jobs(redis_conn) if j.retries_left is not None and j.retries_left < 3
    ]
    outcome = world.result()
    assert {a[:3] for a in answers} == {(503, 503, "application/problem+json")}, answers
    assert all(a[3] and a[4] == 503 for a in answers), answers  # Retry-After, problem status
    ledger.append(
        Outcome(
            f"PostgreSQL unreachable for {OUTAGE_SECONDS:.0f} s (msp web and worker)",
            kept.status_code == 200 and outcome["lost"] == 0 and outcome["doubled"] == 0,
            outcome["lost"] + (kept.status_code != 200),
            outcome["doubled"],
            recovered,
            "a TCP proxy in front of PostgreSQL cut (connections closed, new ones refused); "
            "/readyz and the API answered 503 problem documents with Retry-After throughout; "
            f"{len(retried)} parse job(s) failed in the outage and were retried; "
            f"{OUTAGE_REPORTS} reports accepted before it all ingested {ingested:.0f} s "
            "after the restore; time counted from the restore",
        )
    )
    assert kept.status_code == 200, "a tenant created before the outage is gone"
    assert outcome["found"] == outcome["expected"]
    assert retried, "no parse job met the outage: nothing was retried"
    assert recovered < RECOVERY_LIMIT


def http_up(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def parse_job(first: int) -> JobRequest:
    return JobRequest(
        func="workers.reports.parse_raws",
        queue=REPORTS_QUEUE,
        kwargs={"first_id": first, "last_id": first + PARSE_BUCKET - 1},
        job_id=f"parse-raws-{first // PARSE_BUCKET}",
    )


def parse_jobs(connection: Redis[bytes]) -> list[Job]:
    ids = [
        key.decode().removeprefix("rq:job:")
        for key in connection.scan_iter(match="rq:job:parse-raws-*", count=1000)
    ]
    found = Job.fetch_many(ids, connection=connection, serializer=JSONSerializer)
    return [j for j in found if j is not None]
