"""HTTP guards of every response and request (msp/http.py): streamed bodies over the upload
limit refused with 413, security headers, and X-Forwarded-* trusted only from the configured
number of proxies."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from flask import Flask, request

from msp import create_app
from msp.http import OTHER_CSP, PAGE_CSP
from tests.conftest import test_config
from tests.production.test_chart import by_kind, helm, manifests

__all__ = ["helm"]  # the chart tests' fixture (downloads helm once)

LIMIT = 1000
# What a server gives the app for a chunked body: no length, a stream it terminates.
CHUNKED = {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}


def _app(database_url: str, **extra: Any) -> Flask:
    app = create_app(test_config(database_url, None, **extra))

    @app.post("/_test/echo")
    def echo() -> str:
        return str(len(request.get_data()))

    @app.get("/_test/client")
    def client_address() -> str:
        return f"{request.remote_addr} {request.scheme}"

    return app


def test_a_chunked_body_over_the_limit_is_refused_not_cut(database_url: str) -> None:
    client = _app(database_url, REPORTS_MAX_UPLOAD_BYTES=LIMIT).test_client()
    over = client.post(
        "/_test/echo", input_stream=io.BytesIO(b"x" * (LIMIT + 1)), environ_overrides=CHUNKED
    )
    assert over.status_code == 413
    upload = client.post(
        "/api/v1/reports", input_stream=io.BytesIO(b"x" * 5000), environ_overrides=CHUNKED
    )
    assert upload.status_code == 413
    assert upload.mimetype == "application/problem+json" and upload.json["status"] == 413
    within = client.post(
        "/_test/echo", input_stream=io.BytesIO(b"x" * LIMIT), environ_overrides=CHUNKED
    )
    assert within.status_code == 200 and within.text == str(LIMIT)
    declared = client.post("/api/v1/reports", data=b"x" * (LIMIT + 1))
    assert declared.status_code == 413  # refused before authentication reads anything


def test_every_response_carries_the_security_headers(database_url: str) -> None:
    client = _app(database_url).test_client()
    page = client.get("/login")
    api = client.get("/api/v1/me")
    for response in (page, api, client.get("/healthz")):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert page.mimetype == "text/html" and page.headers["Content-Security-Policy"] == PAGE_CSP
    assert "'unsafe-inline'" not in PAGE_CSP and "default-src 'self'" in PAGE_CSP
    assert api.headers["Content-Security-Policy"] == OTHER_CSP


def test_forwarded_headers_count_only_from_trusted_proxies(database_url: str) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    direct = _app(database_url).test_client().get("/_test/client", headers=forwarded)
    assert direct.text == "127.0.0.1 http"  # default 0: a client cannot claim an address
    proxied = _app(database_url, TRUSTED_PROXIES=1).test_client()
    assert proxied.get("/_test/client", headers=forwarded).text == "203.0.113.7 https"


def test_the_chart_trusts_one_proxy_behind_its_ingress(helm: Path) -> None:
    def config(*sets: str) -> dict[str, str]:
        items = manifests(helm, "--set", "secrets.existingSecret=x", *sets)
        return dict(by_kind(items, "ConfigMap")["rel-msp-config"]["data"])

    assert "MSP_TRUSTED_PROXIES" not in config()
    assert config("--set", "ingress.enabled=true")["MSP_TRUSTED_PROXIES"] == "1"
    own = config("--set", "ingress.enabled=true", "--set", "config.MSP_TRUSTED_PROXIES=2")
    assert own["MSP_TRUSTED_PROXIES"] == "2"
