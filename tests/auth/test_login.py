"""Logins and sessions: failures counted per account (a short back-off) and per address (the
limit) separately (hole 11); a password change ends the user's other sessions, a reset all."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from msp.auth import service
from msp.auth.models import ApiToken, LoginAttempt
from msp.db import utcnow
from msp.errors import TooManyRequests, Unauthorized
from msp.extensions import db
from tests.factories import PASSWORD, make_user, token_caller

NEW_PASSWORD = "a brand new passphrase 42"


def _csrf(client: FlaskClient, path: str = "/login") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(True))
    assert match, path
    return match.group(1)


def _login(client: FlaskClient, email: str, password: str = PASSWORD, ip: str = "") -> Any:
    environ = {"REMOTE_ADDR": ip} if ip else {}
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": _csrf(client)},
        environ_base=environ,
    )


def test_account_backoff_is_short_and_doubles() -> None:
    waits = [service.account_backoff_seconds(n) for n in range(12)]
    assert waits[: service.BACKOFF_FREE_FAILURES] == [0] * service.BACKOFF_FREE_FAILURES
    assert waits[service.BACKOFF_FREE_FAILURES] == 2
    assert waits[service.BACKOFF_FREE_FAILURES + 1] == 4
    assert max(waits) == service.BACKOFF_MAX_SECONDS <= 60


def test_wrong_passwords_from_many_addresses_make_the_account_wait_briefly(
    db_session: Any,
) -> None:
    user = make_user("tenant_admin", _tenant())
    now = utcnow()
    for i in range(service.BACKOFF_FREE_FAILURES):
        with pytest.raises(Unauthorized):
            service.authenticate(user.email, "wrong guess", f"203.0.113.{i}", 10, now)
    with pytest.raises(TooManyRequests, match="this account"):
        service.authenticate(user.email, PASSWORD, "198.51.100.1", 10, now)
    # Seconds later the owner gets in: a back-off, not a lock-out.
    assert service.authenticate(
        user.email, PASSWORD, "198.51.100.1", 10, now + timedelta(seconds=3)
    )


def test_unknown_accounts_back_off_exactly_like_known_ones(db_session: Any) -> None:
    now = utcnow()
    for _ in range(service.BACKOFF_FREE_FAILURES):
        with pytest.raises(Unauthorized):
            service.authenticate("nobody@example.test", "x" * 12, "203.0.113.9", 100, now)
    with pytest.raises(TooManyRequests, match="this account"):
        service.authenticate("nobody@example.test", "x" * 12, "203.0.113.9", 100, now)


def test_one_accounts_failures_behind_a_shared_address_do_not_block_others(
    app: Flask, client: FlaskClient
) -> None:
    victim, other = make_user("msp_admin"), make_user("msp_admin")
    for _ in range(service.BACKOFF_FREE_FAILURES):
        assert _login(client, victim.email, "not the password", "10.0.0.1").status_code == 401
    _failures_just_now(victim.email)
    assert _login(client, victim.email, PASSWORD, "10.0.0.1").status_code == 429
    assert _login(client, other.email, PASSWORD, "10.0.0.1").status_code == 302


def _failures_just_now(email: str) -> None:
    """The back-off after the free failures is two seconds from the last one; on a loaded
    machine five argon2 checks can take longer than that, so the failures are dated now."""
    db.session.execute(update(LoginAttempt).where(LoginAttempt.email == email).values(at=utcnow()))
    db.session.commit()


def test_the_address_limit_counts_failures_across_accounts(app: Flask, client: FlaskClient) -> None:
    limit = app.config["MSP_LOGIN_RATE_LIMIT"]
    user = make_user("msp_admin")
    for i in range(limit):
        assert _login(client, f"guess{i}@example.test", "wrong", "10.9.9.9").status_code == 401
    assert _login(client, user.email, PASSWORD, "10.9.9.9").status_code == 429
    assert _login(client, user.email, PASSWORD, "10.9.9.10").status_code == 302


def _tenant() -> Any:
    from tests.factories import make_tenant

    return make_tenant()


def test_password_change_ends_other_sessions_keeps_this_one_and_tokens(
    app: Flask, client: FlaskClient
) -> None:
    user = make_user("msp_admin")
    other = app.test_client()
    assert _login(other, user.email).status_code == 302
    assert _login(client, user.email).status_code == 302
    assert other.get("/api/v1/me").status_code == 200
    token = token_caller("msp_admin")
    api_token = db.session.get(ApiToken, token.principal.id)
    r = client.patch(
        f"/api/v1/users/{user.id}",
        json={"password": NEW_PASSWORD},
        headers={"X-CSRFToken": _csrf(client, "/dashboard")},
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    assert client.get("/api/v1/me").status_code == 200, "the session that changed it stays"
    assert other.get("/api/v1/me").status_code == 401, "every other session ends"
    assert api_token is not None and api_token.revoked_at is None
    assert client.get("/api/v1/me", headers=token.headers).status_code == 200


def test_token_use_is_recorded_at_most_once_a_minute(db_session: Any) -> None:
    caller = token_caller("msp_admin")
    token = db.session.get(ApiToken, caller.principal.id)
    assert token is not None
    secret = caller.headers["Authorization"].removeprefix("Bearer ")
    now = utcnow()
    service.resolve_token(secret, now)
    assert token.last_used_at == now
    service.resolve_token(secret, now + timedelta(seconds=30))
    assert token.last_used_at == now, "no write within the minute"
    service.resolve_token(secret, now + timedelta(seconds=61))
    assert token.last_used_at == now + timedelta(seconds=61)
