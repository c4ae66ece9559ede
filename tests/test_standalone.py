"""Smoke test of the standalone mode: one process on SQLite, jobs and schedules in-process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.standalone import first_admin, login, run_standalone


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[dict[str, Any]]:
    yield from run_standalone(tmp_path, "--no-demo")


def test_standalone_serves_logs_in_first_admin_and_runs_scheduled_jobs(
        standalone: dict[str, Any]) -> None:
    base = standalone["base"]
    email, password = first_admin(standalone["log"])
    ready = httpx.get(f"{base}/readyz").json()
    assert ready["checks"] == {"database": "ok", "redis": "ok"}
    with httpx.Client(follow_redirects=True) as client:
        assert login(client, base, email, "wrong password!!").status_code == 401
        page = login(client, base, email, password)
        assert page.status_code == 200 and "Client tenants" in page.text
        deadline = time.monotonic() + 30
        while True:
            jobs = client.get(f"{base}/api/v1/system/jobs").json()
            finished = {q["name"]: q["finished"] for q in jobs["queues"]}
            if finished["default"] >= 1:
                break
            assert time.monotonic() < deadline, jobs
            time.sleep(0.5)
        assert jobs["mode"] == "in-process"
        assert all(q["failed"] == 0 for q in jobs["queues"]), jobs
