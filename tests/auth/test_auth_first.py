"""Authentication comes before body and query parsing on every API route (hole 9): an
anonymous caller with a malformed body gets 401, never 422 with the schema's field names."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask import Flask
from flask.testing import FlaskClient

# Endpoints that are public by design: each authenticates its caller another way.
PUBLIC_ENDPOINTS = {
    "api-docs.openapi_json",  # the OpenAPI document
    "billing.StripeWebhook",  # the Stripe signature over the raw body
    "users.AcceptInvitation",  # the one-time token in the body is the credential
    "notifications.DigestUnsubscribe",  # the signed token in the e-mailed link
}
PARAM_RE = re.compile(r"<(?:(\w+):)?(\w+)>")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _api_routes(app: Flask) -> Iterator[tuple[str, str, str]]:
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        path = PARAM_RE.sub(lambda m: "1" if m.group(1) == "int" else "x", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, path, rule.endpoint


def test_every_api_route_refuses_anonymous_callers_before_parsing(
    app: Flask, client: FlaskClient
) -> None:
    failures = []
    routes = list(_api_routes(app))
    assert len(routes) > 40
    for method, path, endpoint in routes:
        kwargs: dict[str, object] = {"query_string": {"page": "not-a-number", "zzz": "1"}}
        if method in WRITE_METHODS:
            kwargs["json"] = {"zzz-unknown-field": [1, 2, 3], "name": 12}
        response = client.open(path, method=method, **kwargs)  # type: ignore[arg-type]
        if response.status_code != 401:
            failures.append(f"{method} {path} ({endpoint}): {response.status_code}")
    assert not failures, "\n".join(failures)


def test_a_bad_token_is_refused_before_parsing_too(client: FlaskClient) -> None:
    r = client.post(
        "/api/v1/tenants", json={"slug": 12}, headers={"Authorization": "Bearer msp_nope"}
    )
    assert r.status_code == 401


# Web pages anyone may open: logging in, the forgotten-password form, one-time links, assets.
PUBLIC_PAGES = {
    "web.login",
    "web.login_mfa",
    "web.forgot_password",
    "web.reset_password",
    "web.accept_invite",
    "web.static",
    "web.index",
}


def test_every_web_page_sends_anonymous_callers_away_before_acting(
    app: Flask, client: FlaskClient
) -> None:
    """Anonymous: a redirect to the login page, 401/403, a refused CSRF check (400) or 404;
    never a page, a validation message or a server error."""
    failures = []
    walked = 0
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or not rule.endpoint.startswith("web."):
            continue
        if rule.endpoint in PUBLIC_PAGES:
            continue
        path = PARAM_RE.sub(lambda m: "1" if m.group(1) == "int" else "x", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            data = {"zzz": "1", "status": "approved"} if method in WRITE_METHODS else None
            response = client.open(path, method=method, data=data)
            walked += 1
            status = response.status_code
            to_login = status in {301, 302, 303} and "/login" in response.headers.get(
                "Location", ""
            )
            if not (to_login or status in {400, 401, 403, 404}):
                failures.append(f"{method} {path} ({rule.endpoint}): {status}")
    assert walked > 10
    assert not failures, "\n".join(failures)
