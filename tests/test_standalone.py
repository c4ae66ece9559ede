"""Smoke test of the standalone mode: one process on SQLite, jobs and schedules in-process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSP_")}
    env.update(MSP_DATABASE_URL=f"sqlite:///{tmp_path}/msp.sqlite3", MSP_SECURE_COOKIES="false")
    log = (tmp_path / "standalone.log").open("w")
    msp = Path(sys.executable).with_name("msp")
    proc = subprocess.Popen(
        [str(msp), "standalone", "--port", str(port), "--no-demo"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "standalone.log").read_text())
            time.sleep(0.2)
        yield {"base": base, "log": tmp_path / "standalone.log"}
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def _login(client: httpx.Client, base: str, email: str, password: str) -> httpx.Response:
    page = client.get(f"{base}/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page
    return client.post(
        f"{base}/login", data={"csrf_token": token.group(1), "email": email, "password": password}
    )


def test_standalone_serves_logs_in_first_admin_and_runs_scheduled_jobs(
    standalone: dict[str, Any],
) -> None:
    base = standalone["base"]
    printed = standalone["log"].read_text()
    match = re.search(r"First MSP admin: (\S+)\s+password: (\S+)", printed)
    assert match, printed
    ready = httpx.get(f"{base}/readyz").json()
    assert ready["checks"] == {"database": "ok", "redis": "ok"}
    with httpx.Client(follow_redirects=True) as client:
        assert _login(client, base, match.group(1), "wrong password!!").status_code == 401
        page = _login(client, base, match.group(1), match.group(2))
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
