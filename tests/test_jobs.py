"""Jobs through a real RQ worker: enqueued only on commit, JSON-serialised, idempotent ids,
run by the schedule's sweeps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from msp.auth.models import LoginAttempt
from msp.db import utcnow
from msp.extensions import db
from msp.queues import DEFAULT, enqueue
from workers.schedule import entries


def _queue(redis_conn: Redis, name: str = DEFAULT) -> Queue:
    return Queue(name, connection=redis_conn, serializer=JSONSerializer)


def test_a_job_is_sent_only_when_the_transaction_commits(
    db_session: Any, redis_conn: Redis
) -> None:
    enqueue("workers.core.prune_auth_records", queue=DEFAULT)
    assert _queue(redis_conn).count == 0
    db.session.rollback()
    db.session.commit()
    assert _queue(redis_conn).count == 0, "a rolled-back request enqueues nothing"
    enqueue("workers.core.prune_auth_records", queue=DEFAULT)
    db.session.commit()
    assert _queue(redis_conn).count == 1


def test_a_job_enqueued_inside_a_savepoint_waits_for_the_outer_commit(
    db_session: Any, redis_conn: Redis
) -> None:
    db.session.commit()
    with db.session.begin_nested():
        enqueue("workers.core.prune_auth_records", queue=DEFAULT)
    assert _queue(redis_conn).count == 0, "sent at the savepoint: its ids are not committed"
    db.session.commit()
    assert _queue(redis_conn).count == 1


def test_same_job_id_is_not_queued_twice_while_pending(db_session: Any, redis_conn: Redis) -> None:
    for _ in range(3):
        enqueue("workers.core.prune_auth_records", queue=DEFAULT, job_id="prune-once")
        db.session.commit()
    assert _queue(redis_conn).job_ids == ["prune-once"]


def test_work_sent_again_goes_to_the_head_of_its_queue(db_session: Any, redis_conn: Redis) -> None:
    for job_id in ("backlog-1", "backlog-2"):
        enqueue("workers.core.prune_auth_records", queue=DEFAULT, job_id=job_id)
    db.session.commit()
    for job_id in ("lost-2", "lost-1"):  # as the recovery sweeps send them: newest first
        enqueue("workers.core.prune_auth_records", queue=DEFAULT, job_id=job_id, front=True)
    db.session.commit()
    assert _queue(redis_conn).job_ids == ["lost-1", "lost-2", "backlog-1", "backlog-2"]


def test_prune_job_runs_in_a_real_worker_and_commits(
    db_session: Any, redis_conn: Redis, run_jobs: Any
) -> None:
    old = utcnow() - timedelta(days=3)
    db.session.add_all([LoginAttempt(ip="192.0.2.1", at=old), LoginAttempt(ip="192.0.2.1")])
    db.session.commit()
    enqueue("workers.core.prune_auth_records", queue=DEFAULT)
    db.session.commit()
    run_jobs()
    queue = _queue(redis_conn)
    assert len(queue.finished_job_registry.get_job_ids()) == 1
    assert queue.failed_job_registry.count == 0
    assert db.session.query(LoginAttempt).count() == 1


def test_schedule_collects_every_area_sweep() -> None:
    names = {f"{e.func.__module__}.{e.func.__name__}" for e in entries()}
    assert "workers.core.prune_auth_records" in names
    for entry in entries():
        assert (entry.interval is None) != (entry.cron is None), entry


def test_a_failing_job_is_retried_with_back_off(
    app: Any, db_session: Any, redis_conn: Redis, run_jobs: Any
) -> None:
    from msp.queues import RETRY_INTERVALS, Dispatcher, JobRequest

    sender = Dispatcher(redis_conn, retries=2)
    job = sender.send(
        JobRequest(
            func="tests.jobs_for_tests.always_fails", queue=DEFAULT, kwargs={"reason": "boom"}
        )
    )
    assert job is not None
    run_jobs((DEFAULT,))
    job.refresh()
    assert job.retries_left == 1
    assert job.retry_intervals == RETRY_INTERVALS[:2]
    assert job.id in _queue(redis_conn).scheduled_job_registry.get_job_ids(), (
        "the retry waits for its back-off interval"
    )
    assert _queue(redis_conn).failed_job_registry.count == 0
