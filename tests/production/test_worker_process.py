"""`msp worker` as a real RQ worker process: SIGTERM in the middle of a job lets the job finish
(RQ's warm shutdown) and leaves the next job queued, and the job's run is counted in metrics
that a different process (this one, through the app's /metrics) reads back."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid

from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from tests.production.support import MSP, REPO, msp_env, wait_until, worker_process

JOB = "tests.production.jobs.slow_job"


def _metric(text: str, name: str, **labels: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_sigterm_mid_job_finishes_the_job_and_leaves_the_next_queued(
    app: Flask, migrated_database_url: str, redis_url: str
) -> None:
    connection = Redis.from_url(redis_url)
    queue = Queue("default", connection=connection, serializer=JSONSerializer)
    first, second = (f"m-{uuid.uuid4().hex[:8]}" for _ in range(2))
    running = queue.enqueue(JOB, kwargs={"marker": first, "seconds": 3.0}, job_timeout=60)
    waiting = queue.enqueue(JOB, kwargs={"marker": second, "seconds": 0.1}, job_timeout=60)
    with worker_process(migrated_database_url, redis_url, f"--name=sigterm-{first}") as worker:
        wait_until(
            lambda: bool(connection.exists(f"{first}:started")) or worker.poll() is not None,
            200,  # the worker imports the whole app first
            "the worker to start the first job",
        )
        assert worker.poll() is None, worker.communicate()[0]
        signalled = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)

    assert worker.returncode == 0, output
    assert time.monotonic() - signalled < 30
    assert connection.exists(f"{first}:finished"), "the interrupted job ran to its end"
    assert running.get_status(refresh=True) == JobStatus.FINISHED
    assert running.return_value() == first
    assert waiting.get_status(refresh=True) == JobStatus.QUEUED, "the next job is not lost"
    assert waiting.id in queue.get_job_ids()
    assert not connection.exists(f"{second}:started")

    logs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    job_lines = [e for e in logs if e["logger"] == "tests.production.jobs"]
    assert [e["message"] for e in job_lines] == [
        f"slow job {first} started",
        f"slow job {first} finished",
    ]
    assert {e.get("job_id") for e in job_lines} == {running.id}

    # The worker was another process; this process's /metrics reads the run from Redis.
    with app.test_client() as client:
        text = client.get("/metrics").get_data(as_text=True)
    assert _metric(text, "msp_jobs_total", queue="default", func="slow_job", status="finished") == 1
    assert _metric(text, "msp_job_duration_seconds_count", queue="default", func="slow_job") == 1
    assert _metric(text, "msp_job_duration_seconds_sum", queue="default", func="slow_job") >= 3.0
    assert _metric(text, "msp_queue_jobs", queue="default", state="queued") == 1


def test_no_fork_runs_every_job_in_the_worker_itself(
    migrated_database_url: str, redis_url: str
) -> None:
    connection = Redis.from_url(redis_url)
    queue = Queue("default", connection=connection, serializer=JSONSerializer)
    markers = [f"nf-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    job_path = "tests.production.jobs.process_id"
    jobs = [queue.enqueue(job_path, kwargs={"marker": m}) for m in markers]
    for fork, expect_own in ((False, True), (True, False)):
        for marker in markers:
            connection.delete(f"{marker}:pid")
        if fork:  # the same jobs again, in forked work horses this time
            jobs = [queue.enqueue(job_path, kwargs={"marker": m}) for m in markers]
        worker = subprocess.run(
            [MSP, "worker", "--queues=default", "--burst", "--fork" if fork else "--no-fork"],
            cwd=REPO,
            env=msp_env(migrated_database_url, redis_url),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert worker.returncode == 0, worker.stdout + worker.stderr
        ran_in = {int(connection.get(f"{m}:pid") or 0) for m in markers}
        assert all(j.get_status(refresh=True) == JobStatus.FINISHED for j in jobs)
        if expect_own:
            assert len(ran_in) == 1, f"--no-fork: one process ran every job, not {ran_in}"
        else:
            assert len(ran_in) == 3, f"--fork: a work horse per job, not {ran_in}"
