"""The policy timeline's retention purge: old entries go in chunks; each domain's latest entry
and the entries of an open change stay; 0 keeps everything; the daily job runs on a worker."""

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
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy.models import PolicyChange, PolicyTimelineEntry
from msp.policy.retention import purge_timeline
from msp.queues import DEFAULT, enqueue
from tests.factories import make_domain, make_tenant

NOW = utcnow()


def _entry(
    domain: Domain, days_old: int, change: PolicyChange | None = None
) -> PolicyTimelineEntry:
    entry = PolicyTimelineEntry(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        change_id=change.id if change is not None else None,
        at=NOW - timedelta(days=days_old),
        kind="evaluated",
        stage="monitor",
        summary="wait: not ready",
        evidence={},
    )
    db.session.add(entry)
    db.session.flush()
    return entry


def _change(domain: Domain, status: str) -> PolicyChange:
    change = PolicyChange(
        tenant_id=domain.tenant_id,
        domain_id=domain.id,
        kind="escalate",
        from_stage="none",
        to_stage="monitor",
        status=status,
    )
    db.session.add(change)
    db.session.flush()
    return change


def _left(*entries: PolicyTimelineEntry) -> list[int]:
    ids = [inspect(e).identity[0] for e in entries]  # no load: the row may be gone
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(PolicyTimelineEntry.id)
            .where(PolicyTimelineEntry.id.in_(ids))
            .order_by(PolicyTimelineEntry.id)
        )
    )


def _ids(*entries: PolicyTimelineEntry) -> list[int]:
    return [inspect(e).identity[0] for e in entries]


def test_old_entries_go_recent_ones_stay(db_session: Any) -> None:
    domain = make_domain(make_tenant())
    old, older, recent = _entry(domain, 401), _entry(domain, 800), _entry(domain, 399)
    assert purge_timeline(400, NOW) == 2
    assert _left(old, older, recent) == _ids(recent)


def test_a_domains_latest_entry_stays_however_old(db_session: Any) -> None:
    domain = make_domain(make_tenant())
    older, latest = _entry(domain, 900), _entry(domain, 800)
    assert purge_timeline(400, NOW) == 1
    assert _left(older, latest) == _ids(latest)


def test_entries_of_an_open_change_stay_those_of_a_closed_one_go(db_session: Any) -> None:
    domain = make_domain(make_tenant())
    open_change, closed = _change(domain, "proposed"), _change(domain, "rejected")
    of_open, of_closed = _entry(domain, 500, open_change), _entry(domain, 500, closed)
    recent = _entry(domain, 1)
    assert purge_timeline(400, NOW) == 1
    assert _left(of_open, of_closed, recent) == _ids(of_open, recent)
    assert db.session.get(PolicyChange, closed.id) is not None  # the change itself stays


def test_zero_days_keeps_every_entry(db_session: Any) -> None:
    domain = make_domain(make_tenant())
    entries = [_entry(domain, 5000), _entry(domain, 401), _entry(domain, 1)]
    assert purge_timeline(0, NOW) == 0
    assert _left(*entries) == _ids(*entries)


def test_a_second_purge_finds_nothing_and_keeps_the_rest(db_session: Any) -> None:
    domain = make_domain(make_tenant())
    old, recent = _entry(domain, 500), _entry(domain, 2)
    assert purge_timeline(400, NOW) == 1
    assert purge_timeline(400, NOW) == 0
    assert _left(old, recent) == _ids(recent)


def test_the_purge_deletes_in_chunks_until_done_or_out_of_time(db_session: Any) -> None:
    domain = make_domain(make_tenant())
    old = [_entry(domain, 500 - day) for day in range(5)]
    recent = _entry(domain, 3)
    assert purge_timeline(400, NOW, chunk=2, budget_seconds=0) == 2  # one chunk, then time is up
    assert purge_timeline(400, NOW, chunk=2) == 3
    assert _left(*old, recent) == _ids(recent)


def test_the_default_keeps_the_timeline_400_days(app: Flask) -> None:
    assert app.config["MSP_POLICY_TIMELINE_RETENTION_DAYS"] == 400


def test_the_daily_job_purges_through_the_worker(
    db_session: Any, run_jobs: Callable[..., Any], redis_conn: Redis
) -> None:
    domain = make_domain(make_tenant())
    old, recent = _entry(domain, 401), _entry(domain, 10)
    for _ in range(2):  # twice: the second run finds nothing
        enqueue("workers.policy.purge_timeline", queue=DEFAULT)
        db.session.commit()
        run_jobs((DEFAULT,))
    queue = Queue(DEFAULT, connection=redis_conn, serializer=JSONSerializer)
    assert queue.failed_job_registry.count == 0
    assert queue.finished_job_registry.count == 2
    assert _left(old, recent) == _ids(recent)
