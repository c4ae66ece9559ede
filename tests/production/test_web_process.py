"""`msp web` under gunicorn, as a real process on 127.0.0.1: health, readiness, metrics merged
across its worker processes, an authenticated API call, JSON logs with request ids, and a
clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.production.support import MSP, REPO, http_ok, msp_env, wait_until
from tests.support.net import free_port


@dataclass(frozen=True)
class WebServer:
    base: str
    process: subprocess.Popen[str]
    token: str


def _admin_token(database_url: str, redis_url: str) -> str:
    done = subprocess.run(
        [MSP, "tokens", "create", "--name", "smoke", "--role", "msp_admin", "--json"],
        cwd=REPO,
        env=msp_env(database_url, redis_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["token"])


@pytest.fixture(scope="module")
def web_server(migrated_database_url: str, redis_url: str) -> Iterator[WebServer]:
    token = _admin_token(migrated_database_url, redis_url)
    port = free_port()
    process = subprocess.Popen(
        [
            MSP,
            "web",
            f"--bind=127.0.0.1:{port}",
            "--workers=2",
            "--threads=2",
            "--graceful-timeout=10",
        ],
        cwd=REPO,
        env=msp_env(migrated_database_url, redis_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: http_ok(f"{base}/healthz") or process.poll() is not None,
            200,  # importing the app takes tens of seconds on a loaded 2-core CI machine
            "gunicorn to answer /healthz",
        )
        assert process.poll() is None, process.communicate()[0]
        yield WebServer(base, process, token)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        # A test that stopped the server and then failed leaves the pipe open: its
        # ResourceWarning would fail whichever later test the garbage collector runs in.
        if process.stdout is not None and not process.stdout.closed:
            process.stdout.close()


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    ]


def test_health_and_readiness_answer_under_gunicorn(web_server: WebServer) -> None:
    assert httpx.get(f"{web_server.base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{web_server.base}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_api_call_with_a_token_works_under_gunicorn(web_server: WebServer) -> None:
    headers = {"Authorization": f"Bearer {web_server.token}"}
    created = httpx.post(
        f"{web_server.base}/api/v1/tenants",
        headers=headers,
        json={"slug": "smoke-acme", "name": "Smoke Acme"},
    )
    assert created.status_code == 201, created.text
    listed = httpx.get(f"{web_server.base}/api/v1/tenants", headers=headers)
    assert "smoke-acme" in [t["slug"] for t in listed.json()]
    anonymous = httpx.get(f"{web_server.base}/api/v1/tenants")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")


def test_metrics_merge_requests_from_every_gunicorn_worker(web_server: WebServer) -> None:
    def healthz_count() -> float:
        text = httpx.get(f"{web_server.base}/metrics").text
        return sum(
            v
            for labels, v in _samples(text, "msp_http_requests_total")
            if labels["route"] == "/healthz" and labels["status"] == "200"
        )

    before = healthz_count()
    # Separate connections, so gunicorn's two worker processes both answer some of them.
    for _ in range(30):
        httpx.get(f"{web_server.base}/healthz")
    assert healthz_count() == before + 30
    text = httpx.get(f"{web_server.base}/metrics").text
    assert _samples(text, "msp_queue_jobs"), "queue depth is part of every scrape"
    assert _samples(text, "msp_http_request_duration_seconds_count")


def test_request_id_is_echoed_and_only_plain_ids_are_kept(web_server: WebServer) -> None:
    response = httpx.get(f"{web_server.base}/healthz", headers={"X-Request-ID": "smoke-42"})
    assert response.headers["X-Request-ID"] == "smoke-42"
    forged = httpx.get(f"{web_server.base}/healthz", headers={"X-Request-ID": 'x" level=ERROR'})
    assert forged.headers["X-Request-ID"] != 'x" level=ERROR', "only plain ids are kept"


def _slow_body(started: threading.Event) -> Iterator[bytes]:
    """A JSON body sent in pieces over ~2 s: the request is in flight while gunicorn stops."""
    yield b'{"slug": "in-flight", '
    started.set()
    for _ in range(4):
        time.sleep(0.5)
        yield b" "
    yield b'"name": "In flight"}'


def test_sigterm_lets_the_request_in_flight_finish_then_stops_with_json_logs(
    web_server: WebServer,
) -> None:
    started = threading.Event()
    result: dict[str, httpx.Response] = {}

    def post() -> None:
        result["response"] = httpx.post(
            f"{web_server.base}/api/v1/tenants",
            headers={
                "Authorization": f"Bearer {web_server.token}",
                "Content-Type": "application/json",
                "X-Request-ID": "in-flight-1",
            },
            content=_slow_body(started),
            timeout=30,
        )

    client = threading.Thread(target=post)
    client.start()
    assert started.wait(10)
    time.sleep(0.2)
    web_server.process.send_signal(signal.SIGTERM)
    client.join(30)
    assert result["response"].status_code == 201, result["response"].text
    assert result["response"].json()["slug"] == "in-flight"

    output, _ = web_server.process.communicate(timeout=30)
    assert web_server.process.returncode == 0, output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert lines and len(lines) == len(output.splitlines()), "every log line is JSON"
    access = [entry for entry in lines if entry["logger"] == "gunicorn.access"]
    assert any("req=smoke-42" in entry["message"] for entry in access)
    assert any("req=in-flight-1" in e["message"] and '" 201 ' in e["message"] for e in access)
    messages = [entry["message"] for entry in lines]
    assert any("Handling signal: term" in m for m in messages)
    assert any("Shutting down" in m for m in messages)


def test_web_refuses_to_start_on_a_configuration_error_with_the_reason(
    redis_url: str,
) -> None:
    done = subprocess.run(
        [MSP, "web", f"--bind=127.0.0.1:{free_port()}"],
        cwd=REPO,
        env=msp_env("sqlite:////tmp/never-used.sqlite3", redis_url),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode != 0
    assert "MSP_DATABASE_URL must point at PostgreSQL in production" in done.stderr
    assert "Booting worker" not in done.stderr, "it fails before gunicorn starts"
