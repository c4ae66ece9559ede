"""`msp web`'s serving flags: ``--no-access-log`` really silences the per-request log of a real
gunicorn process (it had no effect: gunicorn logs each request whenever a logging configuration
is given), and workers are not recycled after a number of requests unless asked."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from gunicorn.glogging import Logger

from msp.serving import NoAccessLogger, WebOptions
from tests.production.support import MSP, REPO, http_ok, msp_env, wait_until
from tests.support.net import free_port


def _options(**changes: object) -> WebOptions:
    fields: dict[str, object] = {
        "bind": "127.0.0.1:0",
        "workers": 1,
        "threads": 1,
        "timeout": 30,
        "graceful_timeout": 5,
        **changes,
    }
    return WebOptions(**fields)  # type: ignore[arg-type]


def test_workers_are_not_recycled_unless_asked() -> None:
    settings = _options().gunicorn_settings()
    assert (settings["max_requests"], settings["max_requests_jitter"]) == (0, 0)
    asked = _options(max_requests=5000, max_requests_jitter=500).gunicorn_settings()
    assert (asked["max_requests"], asked["max_requests_jitter"]) == (5000, 500)


def test_the_access_log_setting_picks_the_logger() -> None:
    on, off = _options().gunicorn_settings(), _options(access_log=False).gunicorn_settings()
    assert on["logger_class"] == "msp.serving.Logger"
    assert off["logger_class"] == "msp.serving.NoAccessLogger"
    assert issubclass(NoAccessLogger, Logger)
    assert off["logconfig_dict"]["loggers"]["gunicorn.access"]["handlers"] == []


def test_no_access_log_silences_each_request_of_a_real_server(
    migrated_database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    log_path = tmp_path / "web.log"
    with log_path.open("w") as log:  # a file, not a pipe nobody reads while it runs
        process = subprocess.Popen(
            [MSP, "web", f"--bind=127.0.0.1:{port}", "--workers=1", "--no-access-log"],
            cwd=REPO,
            env=msp_env(migrated_database_url, redis_url, MSP_LOG_FORMAT="text"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: http_ok(f"{base}/healthz") or process.poll() is not None,
            200,
            "gunicorn to answer /healthz",
        )
        assert process.poll() is None, log_path.read_text()
        with httpx.Client(base_url=base) as client:
            answers = [
                client.get("/healthz", headers={"X-Request-ID": f"quietcheck{i}"}).status_code
                for i in range(5)
            ]
        assert answers == [200] * 5
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    logged = log_path.read_text()
    assert "Booting worker" in logged, logged  # the server's own log is still written
    assert "GET /healthz" not in logged and "quietcheck" not in logged, logged


def test_a_worker_lets_waiting_threads_take_the_gil_sooner() -> None:
    """A page drawn in one thread must not hold the others (answering from the caches) for
    Python's default 5 ms at each of their socket waits: measured at 10 M rows, the portfolio's
    redraw took p99 of its 5-second slice from ~15 ms to 1,190 ms with the default and 75 ms
    with this interval (bench/scale/drive.py)."""
    from msp.serving import SWITCH_INTERVAL, WebApplication

    before = sys.getswitchinterval()
    try:
        WebApplication({"bind": ["127.0.0.1:0"]}).load()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
        assert before > SWITCH_INTERVAL
    finally:
        sys.setswitchinterval(before)
