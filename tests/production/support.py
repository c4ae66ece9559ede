"""Helpers for the production tests: free loopback ports, the environment of a real ``msp``
process, and waiting for a server or a condition."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
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
