"""The posture history's retention purge: old runs go in chunks; each domain's latest run and
the runs its record snapshots and drifts point to stay; findings lose the link only; 0 keeps
everything; the daily job runs on a worker."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import inspect, select

from msp.db import utcnow
from msp.dns.models import PostureFinding, PostureRun, RecordDrift, RecordSnapshot
from msp.dns.retention import purge_history
from msp.domains.models import Domain
from msp.extensions import db
from msp.queues import CHECKS, enqueue
from tests.factories import make_domain, make_tenant
from workers.dns import CRON
from workers.dns import purge_history as purge_history_job

NOW = utcnow()


def _run(domain: Domain, days_old: int) -> PostureRun:
    run = PostureRun(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        checked_at=NOW - timedelta(days=days_old),
        grade="B",
        spf_status="valid",
        dmarc_status="valid",
        dmarc_policy="none",
        result={"findings": []},
    )
    db.session.add(run)
    db.session.flush()
    return run


def _ids(*rows: Any) -> list[int]:
    return [inspect(r).identity[0] for r in rows]  # no load: the row may be gone


def _left(*runs: PostureRun) -> list[int]:
    ids = _ids(*runs)
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(PostureRun.id).where(PostureRun.id.in_(ids)).order_by(PostureRun.id)
        )
    )


def test_old_runs_go_recent_ones_stay(db_session: Any) -> None:
    domain = make_domain(make_tenant())
    old, older, recent = _run(domain, 401), _run(domain, 700), _run(domain, 399)
    assert purge_history(400, NOW) == 2
    assert _left(old, older, recent) == _ids(recent)


def test_a_domains_latest_run_stays_however_old(db_session: Any) -> None:
    domain = make_domain(make_tenant())
    older, latest = _run(domain, 900), _run(domain, 800)
    assert purge_history(400, NOW) == 1
    assert _left(older, latest) == _ids(latest)


def test_runs_of_snapshots_and_drifts_stay_findings_only_lose_the_link(db_session: Any) -> None:
    domain = make_domain(make_tenant())
    baseline, drifted, plain, latest = (_run(domain, d) for d in (600, 500, 450, 1))
    owned = {"tenant_id": domain.tenant_id, "domain_id": domain.id}
    snapshot = RecordSnapshot(**owned, key="spf", value="v=spf1 -all", run_id=baseline.id)
    drift = RecordDrift(**owned, run_id=drifted.id, key="dmarc", old_value="a", new_value="b")
    found = PostureFinding(
        **owned, key="spf", code="spf_x", severity="warning", message="m", remediation="r"
    )
    found.opened_run_id = plain.id
    db.session.add_all([snapshot, drift, found])
    db.session.flush()
    assert purge_history(400, NOW) == 1
    assert _left(baseline, drifted, plain, latest) == _ids(baseline, drifted, latest)
    assert db.session.get(RecordSnapshot, snapshot.id) is not None
    assert db.session.get(RecordDrift, drift.id) is not None
    kept = db.session.get(PostureFinding, found.id)
    assert kept is not None and kept.opened_run_id is None


def test_zero_days_keeps_every_run(db_session: Any) -> None:
    domain = make_domain(make_tenant())
    runs = [_run(domain, 5000), _run(domain, 401), _run(domain, 1)]
    assert purge_history(0, NOW) == 0
    assert _left(*runs) == _ids(*runs)


def test_a_second_purge_finds_nothing_and_keeps_the_rest(db_session: Any) -> None:
    domain = make_domain(make_tenant())
    old, recent = _run(domain, 500), _run(domain, 2)
    assert purge_history(400, NOW) == 1
    assert purge_history(400, NOW) == 0
    assert _left(old, recent) == _ids(recent)


def test_the_purge_deletes_in_chunks_until_done_or_out_of_time(db_session: Any) -> None:
    domain = make_domain(make_tenant())
    old = [_run(domain, 500 - day) for day in range(5)]
    recent = _run(domain, 3)
    assert purge_history(400, NOW, chunk=2, budget_seconds=0) == 2  # one chunk, then time is up
    assert purge_history(400, NOW, chunk=2) == 3
    assert _left(*old, recent) == _ids(recent)


def test_the_default_keeps_the_history_400_days(app: Flask) -> None:
    assert app.config["MSP_DNS_HISTORY_RETENTION_DAYS"] == 400


def test_the_daily_job_purges_through_the_worker(
    db_session: Any, run_jobs: Callable[..., Any], redis_conn: Redis
) -> None:
    assert any(e.func is purge_history_job and e.cron for e in CRON)
    domain = make_domain(make_tenant())
    old, recent = _run(domain, 401), _run(domain, 10)
    for _ in range(2):  # twice: the second run finds nothing
        enqueue("workers.dns.purge_history", queue=CHECKS)
        db.session.commit()
        run_jobs((CHECKS,))
    queue = Queue(CHECKS, connection=redis_conn, serializer=JSONSerializer)
    assert queue.failed_job_registry.count == 0
    assert queue.finished_job_registry.count == 2
    assert _left(old, recent) == _ids(recent)
