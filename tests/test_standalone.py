"""The standalone mode: one process on SQLite, jobs and schedules in-process (threads, never
forks), concurrent requests without "database is locked", and a restart after ``kill -9``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakeredis import FakeRedis, FakeServer
from rq import Queue
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from msp import create_app
from msp.extensions import db
from msp.inprocess import ThreadScheduler
from tests.conftest import test_config
from tests.support.net import free_port
from tests.support.standalone import first_admin, login, run_standalone

CORPUS = Path(__file__).parent / "data" / "corpus" / "aggregate"


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[dict[str, Any]]:
    yield from run_standalone(tmp_path, "--no-demo")


def test_standalone_serves_logs_in_first_admin_and_runs_scheduled_jobs(
    standalone: dict[str, Any],
) -> None:
    base = standalone["base"]
    email, password = first_admin(standalone["log"])
    ready = httpx.get(f"{base}/readyz").json()
    assert ready["checks"] == {"database": "ok", "redis": "ok"}
    with httpx.Client(follow_redirects=True) as client:
        assert login(client, base, email, "wrong password!!").status_code == 401
        page = login(client, base, email, password)
        assert page.status_code == 200 and "<h1>Portfolio</h1>" in page.text
        jobs = _wait_for_jobs(client, base, lambda finished: finished["default"] >= 1)
        assert jobs["mode"] == "in-process"
        assert all(q["failed"] == 0 for q in jobs["queues"]), jobs
    # Worker, RQ scheduler and cron are threads: no forked child works on a copy of the
    # in-process Redis or keeps the port after the server is killed.
    assert _children(standalone["proc"].pid) == []


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait_for_jobs(client: httpx.Client, base: str, done: Any, **headers: str) -> Any:
    deadline = time.monotonic() + 60
    while True:
        jobs = client.get(f"{base}/api/v1/system/jobs", headers=headers).json()
        if done({q["name"]: q["finished"] for q in jobs["queues"]}):
            return jobs
        assert time.monotonic() < deadline, jobs
        time.sleep(0.5)


def _token(tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSP_")}
    env["MSP_DATABASE_URL"] = f"sqlite:///{tmp_path}/msp.sqlite3"
    msp = Path(sys.executable).with_name("msp")
    done = subprocess.run(
        [str(msp), "tokens", "create", "--name", "t", "--role", "msp_admin", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return str(json.loads(done.stdout)["token"])


def test_concurrent_uploads_and_reads_get_no_server_error(
    standalone: dict[str, Any], tmp_path: Path
) -> None:
    """4 uploaders and 2 readers at once (each authenticated request touches the token) while
    the worker thread parses: every answer is a success, none a 500 "database is locked"."""
    base, headers = standalone["base"], {"Authorization": f"Bearer {_token(tmp_path)}"}
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in {".xml", ".gz", ".zip"})[:12]
    assert len(files) >= 8

    def upload(path: Path) -> int:
        with httpx.Client(timeout=60) as client:
            sent = client.post(
                f"{base}/api/v1/reports", headers=headers, files={"file": path.read_bytes()}
            )
            return sent.status_code

    def read(_: int) -> int:
        with httpx.Client(timeout=60) as client:
            return client.get(f"{base}/api/v1/reports", headers=headers).status_code

    with ThreadPoolExecutor(6) as pool:
        reads = pool.map(read, range(30))
        uploads = pool.map(upload, files * 2)
        statuses = [*uploads, *reads]
    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(202) == 2 * len(files), statuses
    with httpx.Client(timeout=60) as client:
        _wait_for_jobs(client, base, lambda finished: finished["reports"] >= 1, **headers)
        _wait_until_idle(client, base, headers)
        jobs = client.get(f"{base}/api/v1/system/jobs", headers=headers).json()
    assert all(q["failed"] == 0 for q in jobs["queues"]), jobs


def _wait_until_idle(client: httpx.Client, base: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        jobs = client.get(f"{base}/api/v1/system/jobs", headers=headers).json()
        if all(q.get("queued", 0) == 0 and q.get("started", 0) == 0 for q in jobs["queues"]):
            return
        time.sleep(0.5)


def test_a_restart_after_kill_9_binds_the_same_port(tmp_path: Path) -> None:
    first = run_standalone(tmp_path, "--no-demo")
    running = next(first)
    port = running["port"]
    os.kill(running["proc"].pid, signal.SIGKILL)
    running["proc"].wait(15)
    first.close()
    again = run_standalone(tmp_path, "--no-demo", port=port)
    restarted = next(again)
    try:
        assert httpx.get(f"{restarted['base']}/healthz").status_code == 200
    finally:
        again.close()


def test_sqlite_connections_use_wal_and_wait_when_the_database_is_locked(tmp_path: Path) -> None:
    """Readers never block the writer (WAL), and a writer that meets a lock waits for it
    instead of failing at once with "database is locked"."""
    app = create_app(test_config(f"sqlite:///{tmp_path}/msp.sqlite3", None))
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
        db.engine.dispose()


def test_a_sqlite_transaction_that_reads_then_writes_waits_for_another_writer(
    tmp_path: Path,
) -> None:
    """A job (or a POST) that reads inside a savepoint and writes later, while another writer
    commits in between, waits its turn instead of failing with "database is locked": SQLite
    cannot make a stale read snapshot wait, so such a transaction takes the write lock first."""
    import sqlalchemy as sa

    app = create_app(test_config(f"sqlite:///{tmp_path}/msp.sqlite3", None))
    with app.app_context():
        engine = db.engine
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE counter (n INTEGER)")
            connection.exec_driver_sql("INSERT INTO counter VALUES (0)")
        read_done, errors = threading.Event(), []

        def other_writer() -> None:
            read_done.wait(5)
            try:
                with engine.begin() as connection:
                    connection.exec_driver_sql("UPDATE counter SET n = n + 10")
            except sa.exc.OperationalError as exc:  # pragma: no cover - the failure we guard
                errors.append(str(exc))

        thread = threading.Thread(target=other_writer)
        thread.start()
        with engine.connect() as connection, connection.begin():
            nested = connection.begin_nested()  # a SAVEPOINT, as the pages and services use
            seen = connection.exec_driver_sql("SELECT n FROM counter").scalar()
            read_done.set()
            time.sleep(0.5)  # the other writer tries now
            connection.exec_driver_sql("UPDATE counter SET n = n + 1")
            nested.commit()
        thread.join(35)
        with engine.connect() as connection:
            final = connection.exec_driver_sql("SELECT n FROM counter").scalar()
        engine.dispose()
    assert (seen, errors, final) == (0, [], 11)


def record(value: str) -> str:
    return value


def test_a_job_scheduled_for_later_runs_on_the_in_process_redis() -> None:
    """RQ's scheduler runs in a thread on the same in-process server: a job (a retry, an
    ``enqueue_at``) scheduled there is moved to its queue. A forked scheduler would work on a
    copy of the server and never move it."""
    connection = FakeRedis(server=FakeServer())
    queue = Queue("default", connection=connection, serializer=JSONSerializer)
    job = queue.enqueue_at(datetime.now(UTC) + timedelta(seconds=1), record, "x")
    scheduler = ThreadScheduler(["default"], connection)
    thread = threading.Thread(target=scheduler.work, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while job.get_status(refresh=True) != JobStatus.QUEUED:
            assert time.monotonic() < deadline, job.get_status()
            time.sleep(0.2)
        assert job.id in queue.job_ids
    finally:
        scheduler.request_stop()
        thread.join(10)


_FORKING_PARENT = textwrap.dedent(
    """
    import os, socket, sys, time
    from msp.inprocess import guard_forked_children
    listening = socket.create_server(("127.0.0.1", int(sys.argv[1])))
    guard_forked_children(listening)
    child = os.fork()
    if child == 0:
        time.sleep(60)
        os._exit(0)
    print(child, flush=True)
    time.sleep(60)
    """
)


def test_a_forked_child_dies_with_its_parent_and_never_holds_the_port() -> None:
    port = free_port()
    with subprocess.Popen(
        [sys.executable, "-c", _FORKING_PARENT, str(port)], stdout=subprocess.PIPE, text=True
    ) as parent:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()
        parent.wait(10)
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.1)
    with socket.create_server(("127.0.0.1", port)):
        pass


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
