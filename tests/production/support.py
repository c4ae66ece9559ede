"""Helpers for the production tests: free loopback ports, the environment of a real ``msp``
process, and waiting for a server or a condition."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
MSP = str(Path(sys.executable).with_name("msp"))
FERNET_KEY = "kP3q0T0bY3m4lQyYv8n2F6m0b1hS9dQzR5wX7cV2a4E="


def msp_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """A production-mode environment for an ``msp`` subprocess (no inherited MSP_* settings)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MSP_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        MSP_ENV="production",
        MSP_SECRET_KEY="production-test-secret-key-0123456789",
        MSP_ENCRYPTION_KEY=FERNET_KEY,
        MSP_DATABASE_URL=database_url,
        MSP_REDIS_URL=redis_url,
        MSP_LOG_FORMAT="json",
        MSP_JOB_RETRIES="0",
        PYTHONPATH=str(REPO),  # the test job module lives in tests/production
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@contextmanager
def worker_process(
    database_url: str, redis_url: str, *args: str, **env: str
) -> Iterator[subprocess.Popen[str]]:
    """``msp worker --queues=default *args`` with its output captured; killed on the way out
    if the test left it running (the test stops it, or lets ``--burst`` end, itself)."""
    worker = subprocess.Popen(
        [MSP, "worker", "--queues=default", *args],
        cwd=REPO,
        env=msp_env(database_url, redis_url, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield worker
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False
