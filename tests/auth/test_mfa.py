"""The TOTP second factor (hole 16): enrolment with recovery codes, the second login step,
no code accepted twice, required for MSP staff by the setting, and needed to create tokens."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.models import RecoveryCode, User
from msp.extensions import db
from tests.factories import PASSWORD, make_tenant, make_user


def _csrf(client: FlaskClient, path: str = "/login") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(True))
    assert match, path
    return match.group(1)


def _login(client: FlaskClient, email: str) -> Any:
    return client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": _csrf(client)}
    )


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _enrol(client: FlaskClient, user: User) -> tuple[str, list[str]]:
    token = _csrf(client, "/account")
    r = client.post("/account", data={"action": "mfa_begin", "csrf_token": token})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    text = r.get_data(as_text=True)
    assert "<svg" in text
    match = re.search(r'id="totp-secret">([A-Z2-7]+)<', text)
    assert match
    secret = match.group(1)
    r = client.post(
        "/account", data={"action": "mfa_confirm", "code": "000000", "csrf_token": token}
    )
    assert r.status_code == 422
    r = client.post(
        "/account", data={"action": "mfa_confirm", "code": _code(secret), "csrf_token": token}
    )
    assert r.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f-]{19})</code></li>", r.get_data(as_text=True))
    assert len(codes) == 10
    db.session.refresh(user)
    assert user.mfa_enabled_at is not None and user.totp_secret and secret not in user.totp_secret
    return secret, codes


def test_enrol_then_log_in_with_a_code_never_the_same_code_twice(
    app: Flask, client: FlaskClient
) -> None:
    user = make_user("tenant_admin", make_tenant())
    assert _login(client, user.email).status_code == 302
    secret, _codes = _enrol(client, user)
    browser = app.test_client()
    r = _login(browser, user.email)
    assert r.status_code == 302 and r.headers["Location"].endswith("/login/mfa")
    assert browser.get("/api/v1/me").status_code == 401, "no session before the second step"
    token = _csrf(browser, "/login/mfa")
    assert (
        browser.post("/login/mfa", data={"code": "123456", "csrf_token": token}).status_code == 401
    )
    code = _code(secret, 1)
    r = browser.post("/login/mfa", data={"code": code, "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/dashboard")
    assert browser.get("/api/v1/me").status_code == 200
    again = app.test_client()
    _login(again, user.email)
    r = again.post("/login/mfa", data={"code": code, "csrf_token": _csrf(again, "/login/mfa")})
    assert r.status_code == 401, "a used code is refused"


def test_a_recovery_code_works_once(app: Flask, client: FlaskClient) -> None:
    user = make_user("tenant_viewer", make_tenant())
    _login(client, user.email)
    _secret, codes = _enrol(client, user)
    for expected in (302, 401):
        browser = app.test_client()
        _login(browser, user.email)
        r = browser.post(
            "/login/mfa", data={"code": codes[3], "csrf_token": _csrf(browser, "/login/mfa")}
        )
        assert r.status_code == expected
    used = db.session.scalars(select(RecoveryCode.used_at).where(RecoveryCode.user_id == user.id))
    assert sum(1 for at in used if at is not None) == 1


def test_staff_must_enrol_when_the_setting_is_on(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "MSP_MFA_REQUIRED_FOR_STAFF", True)
    staff = make_user("msp_staff")
    assert _login(client, staff.email).status_code == 302
    r = client.get("/dashboard")
    assert r.status_code == 302 and "/account" in r.headers["Location"]
    r = client.post(
        "/api/v1/tokens",
        json={"name": "x", "role": "msp_staff"},
        headers={"X-CSRFToken": _csrf(client, "/account")},
    )
    assert r.status_code == 403, r.get_data(as_text=True)
    assert client.get("/api/v1/tenants").status_code == 403, "the API refuses them too"
    _enrol(client, staff)
    assert client.get("/dashboard").status_code == 200
    assert client.get("/api/v1/tenants").status_code == 200
    # A tenant user is not held by the staff rule.
    viewer = make_user("tenant_viewer", make_tenant())
    other = app.test_client()
    _login(other, viewer.email)
    assert other.get("/dashboard").status_code in {200, 302}
    assert "/account" not in other.get("/dashboard").headers.get("Location", "")


def test_creating_a_token_needs_a_fresh_code(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    user = make_user("tenant_admin", tenant)
    _login(client, user.email)
    secret, _codes = _enrol(client, user)
    csrf = {"X-CSRFToken": _csrf(client, "/account")}
    body = {"name": "ci", "tenant_id": tenant.id, "role": "tenant_viewer"}
    assert client.post("/api/v1/tokens", json=body, headers=csrf).status_code == 403
    r = client.post("/api/v1/tokens", json={**body, "mfa_code": _code(secret, 1)}, headers=csrf)
    assert r.status_code == 201, r.get_data(as_text=True)


def test_without_an_encryption_key_set_up_is_refused_not_a_crash(db_session: Any) -> None:
    from msp.auth import mfa
    from msp.errors import ValidationFailed

    user = make_user("msp_staff")
    with pytest.raises(ValidationFailed, match="MSP_ENCRYPTION_KEY"):
        mfa.begin(user, key=None)
    assert user.totp_secret is None
