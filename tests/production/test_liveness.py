"""The liveness file of the processes without HTTP: a real `msp worker` touches it on start and
on each RQ heartbeat, the scheduler on each round, and `msp alive` (the chart's exec probe)
passes on a fresh file and fails on a stale or missing one."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from flask import Flask
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

from tests.production.support import MSP, wait_until, worker_process

JOB = "tests.production.jobs.slow_job"


def _alive(path: Path, max_age: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MSP, "alive", str(path), f"--max-age={max_age}"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_alive_passes_on_a_fresh_file_and_fails_on_a_stale_or_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "alive"
    missing = _alive(path, 60)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    path.touch()
    assert _alive(path, 60).returncode == 0
    old = time.time() - 120
    os.utime(path, (old, old))
    stale = _alive(path, 60)
    assert stale.returncode == 1 and "untouched for 120s" in stale.stderr


def test_worker_touches_its_liveness_file_on_start_and_on_each_heartbeat(
    migrated_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "msp-alive"
    connection = Redis.from_url(redis_url)
    queue = Queue("default", connection=connection, serializer=JSONSerializer)
    name = f"alive-{uuid.uuid4().hex[:8]}"
    with worker_process(
        migrated_database_url, redis_url, f"--name={name}", MSP_LIVENESS_FILE=str(path)
    ) as worker:
        wait_until(
            lambda: bool(connection.exists(f"rq:worker:{name}")) or worker.poll() is not None,
            200,
            "the worker to register",
        )
        assert worker.poll() is None, worker.communicate()[0]
        assert _alive(path, 60).returncode == 0
        assert 0 < connection.ttl(f"rq:worker:{name}") <= 120 + 60, "the shorter worker TTL"
        # The next heartbeat (after a dequeue) touches the file again.
        path.unlink()
        marker = f"m-{uuid.uuid4().hex[:8]}"
        queue.enqueue(JOB, kwargs={"marker": marker, "seconds": 0.1}, job_timeout=60)
        wait_until(path.exists, 60, "the heartbeat after the dequeue to touch the file")
        assert _alive(path, 60).returncode == 0
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    assert worker.returncode == 0


def test_scheduler_touches_its_liveness_file_on_each_heartbeat(app: Flask, tmp_path: Path) -> None:
    from msp.bootstrap import _touch_on_heartbeat
    from msp.queues import dispatcher
    from workers.schedule import build_scheduler

    path = tmp_path / "msp-alive"
    with app.app_context():
        scheduler = build_scheduler(dispatcher().connection)
        _touch_on_heartbeat(scheduler, path)
        scheduler.heartbeat()
        assert path.exists()
        assert scheduler.last_heartbeat is not None, "RQ's own heartbeat still runs"
        scheduler.register_death()


def test_a_worker_running_a_long_job_itself_dates_its_file_ahead_by_the_jobs_timeout(
    migrated_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """It cannot beat while the job runs: the probe must let the job reach its timeout."""
    path = tmp_path / "msp-alive"
    connection = Redis.from_url(redis_url)
    queue = Queue("default", connection=connection, serializer=JSONSerializer)
    marker = f"long-{uuid.uuid4().hex[:8]}"
    queue.enqueue(JOB, kwargs={"marker": marker, "seconds": 4}, job_timeout=600)
    with worker_process(
        migrated_database_url, redis_url, "--burst", MSP_LIVENESS_FILE=str(path)
    ) as worker:
        wait_until(
            lambda: bool(connection.get(f"{marker}:started")) or worker.poll() is not None,
            200,
            "the job to start",
        )
        ahead = path.stat().st_mtime - time.time()
        # 600 s + 60 s (RQ's silence for a job run in the worker) - the idle TTL of 120 s.
        assert 500 < ahead <= 540, ahead
        assert _alive(path, 60).returncode == 0
        worker.communicate(timeout=120)
    assert worker.returncode == 0
    assert connection.get(f"{marker}:finished") == b"1"
    assert abs(path.stat().st_mtime - time.time()) < 60, "back to now after the job"
