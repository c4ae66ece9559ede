"""The account pages: forgotten password and reset link, accepting an invitation, the tenant's
people page (a viewer sees no control), one's own account and API tokens. CSRF on every write."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.models import ApiToken, AuditLog, Membership, User
from msp.auth.passwords import verify_password
from msp.extensions import db
from tests.factories import PASSWORD, make_tenant, make_user
from tests.notifications.servers import MailSink, smtp_server

NEW_PASSWORD = "a fresh and long passphrase"


@pytest.fixture
def mailbox(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[MailSink]:
    with smtp_server() as sink:
        monkeypatch.setitem(app.config, "MSP_SMTP_HOST", "127.0.0.1")
        monkeypatch.setitem(app.config, "MSP_SMTP_PORT", sink.port)
        monkeypatch.setitem(app.config, "MSP_SMTP_STARTTLS", False)
        monkeypatch.setitem(app.config, "MSP_BASE_URL", "https://dmarc.msp.test")
        yield sink


def _csrf(client: FlaskClient, path: str = "/login") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(True))
    assert match, path
    return match.group(1)


def _login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": _csrf(client)}
    )


def _link(sink: MailSink, to: str, kind: str) -> str:
    deadline = time.monotonic() + 5  # reset e-mails leave in the background
    while not any(rcpt == [to] for _f, rcpt, _m in sink.received) and time.monotonic() < deadline:
        time.sleep(0.05)
    mails = [m for _f, rcpt, m in sink.received if rcpt == [to]]
    assert mails, f"no mail to {to}"
    body = mails[-1].get_payload(decode=True).decode()  # type: ignore[union-attr]
    match = re.search(rf"https://dmarc\.msp\.test(/{kind}/[A-Za-z0-9_-]+)", body)
    assert match, body
    return match.group(1)


def test_forgot_password_answers_the_same_and_the_link_ends_every_session(
    app: Flask, client: FlaskClient, mailbox: MailSink
) -> None:
    user = make_user("msp_admin", email="forgetful@msp.example")
    other = app.test_client()
    assert _login(other, user.email).status_code == 302
    pages = []
    for email in ("forgetful@msp.example", "nobody@nowhere.example"):
        r = client.post(
            "/forgot-password",
            data={"email": email, "csrf_token": _csrf(client, "/forgot-password")},
        )
        assert r.status_code == 200
        pages.append(r.get_data(as_text=True).replace(email, "EMAIL"))
    assert pages[0] == pages[1]
    path = _link(mailbox, "forgetful@msp.example", "reset")
    time.sleep(0.3)
    assert [rcpt for _f, rcpt, _m in mailbox.received] == [["forgetful@msp.example"]]
    assert client.get(path).status_code == 200
    form = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": _csrf(client, path)}
    r = client.post(path, data=form)
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert other.get("/api/v1/me").status_code == 401, "a reset ends every session"
    assert client.get(path).status_code == 404, "the link works once"
    assert _login(client, user.email, NEW_PASSWORD).status_code == 302
    assert _login(app.test_client(), user.email, PASSWORD).status_code == 401


def test_invite_from_the_people_page_and_accept_it(
    app: Flask, client: FlaskClient, mailbox: MailSink
) -> None:
    tenant = make_tenant(name="Acme Widgets")
    admin = make_user("tenant_admin", tenant)
    assert _login(client, admin.email).status_code == 302
    page = f"/tenants/{tenant.id}/people"
    assert "Send the invitation" in client.get(page).get_data(as_text=True)
    form = {
        "email": "newbie@acme.example",
        "role": "tenant_viewer",
        "csrf_token": _csrf(client, page),
    }
    assert client.post(f"{page}/invite", data={**form, "csrf_token": ""}).status_code == 400
    r = client.post(f"{page}/invite", data=form)
    assert r.status_code == 302
    assert "newbie@acme.example" in client.get(page).get_data(as_text=True)
    path = _link(mailbox, "newbie@acme.example", "invite")
    invitee = app.test_client()
    text = invitee.get(path).get_data(as_text=True)
    assert "Acme Widgets" in text and "Choose a password" in text
    r = invitee.post(
        path, data={"name": "New Bie", "password": NEW_PASSWORD, "csrf_token": _csrf(invitee, path)}
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:500]
    me = invitee.get("/api/v1/me").get_json()
    assert me["tenant_roles"] == {str(tenant.id): "tenant_viewer"}
    assert invitee.get(path).status_code == 404


def test_a_viewer_sees_people_but_no_controls_and_is_refused_a_forged_one(
    client: FlaskClient,
) -> None:
    tenant = make_tenant()
    viewer = make_user("tenant_viewer", tenant)
    colleague = make_user("tenant_admin", tenant, email="colleague@t.example")
    assert _login(client, viewer.email).status_code == 302
    page = f"/tenants/{tenant.id}/people"
    text = client.get(page).get_data(as_text=True)
    assert "colleague@t.example" in text
    assert "Send the invitation" not in text and "Remove" not in text and "Change role" not in text
    membership = db.session.scalar(select(Membership).where(Membership.user_id == colleague.id))
    assert membership is not None
    token = _csrf(client, "/account")
    r = client.post(f"{page}/{membership.id}/remove", data={"csrf_token": token})
    assert r.status_code == 403
    assert db.session.get(Membership, membership.id) is not None


def test_admin_changes_a_role_and_removes_a_member(client: FlaskClient) -> None:
    tenant = make_tenant()
    admin = make_user("tenant_admin", tenant)
    person = make_user("tenant_viewer", tenant)
    membership = person.memberships[0]
    membership_id = membership.id
    assert _login(client, admin.email).status_code == 302
    page = f"/tenants/{tenant.id}/people"
    token = _csrf(client, page)
    r = client.post(
        f"{page}/{membership.id}/role", data={"role": "tenant_admin", "csrf_token": token}
    )
    assert r.status_code == 302
    db.session.refresh(membership)
    assert membership.role == "tenant_admin"
    assert (
        client.post(f"{page}/{membership.id}/remove", data={"csrf_token": token}).status_code == 302
    )
    db.session.expire_all()
    assert db.session.scalar(select(Membership.id).where(Membership.id == membership_id)) is None
    actions = set(
        db.session.scalars(select(AuditLog.action).where(AuditLog.tenant_id == tenant.id))
    )
    assert {"membership.update", "membership.delete"} <= actions


def test_another_tenants_people_page_is_404(client: FlaskClient) -> None:
    mine, theirs = make_tenant(), make_tenant()
    admin = make_user("tenant_admin", mine)
    make_user("tenant_admin", theirs, email="hidden@theirs.example")
    assert _login(client, admin.email).status_code == 302
    r = client.get(f"/tenants/{theirs.id}/people")
    assert r.status_code == 404 and "hidden@theirs.example" not in r.get_data(as_text=True)


def test_account_page_changes_password_with_the_current_one(
    app: Flask, client: FlaskClient
) -> None:
    user = make_user("msp_staff")
    other = app.test_client()
    assert _login(other, user.email).status_code == 302
    assert _login(client, user.email).status_code == 302
    form = {
        "action": "password",
        "current": "wrong wrong wrong",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
        "csrf_token": _csrf(client, "/account"),
    }
    assert client.post("/account", data=form).status_code == 422
    r = client.post("/account", data={**form, "current": PASSWORD})
    assert r.status_code == 302
    db.session.refresh(user)
    assert verify_password(user.password_hash, NEW_PASSWORD)
    assert client.get("/account").status_code == 200
    assert other.get("/account").status_code == 302, "the other session is logged out"


def test_tokens_page_shows_a_new_token_once_and_revokes_it(client: FlaskClient) -> None:
    tenant = make_tenant()
    admin = make_user("tenant_admin", tenant)
    assert _login(client, admin.email).status_code == 302
    form = {
        "action": "create",
        "name": "ci",
        "tenant_id": str(tenant.id),
        "role": "tenant_viewer",
        "days": "30",
        "csrf_token": _csrf(client, "/account/tokens"),
    }
    r = client.post("/account/tokens", data=form)
    assert r.status_code == 200
    secret = re.search(r'id="token-secret">([^<]+)<', r.get_data(as_text=True))
    assert secret
    assert secret.group(1) not in client.get("/account/tokens").get_data(as_text=True)
    token = db.session.scalar(select(ApiToken).where(ApiToken.created_by_id == admin.id))
    assert token is not None
    r = client.post(
        "/account/tokens",
        data={"action": "revoke", "token_id": str(token.id), "csrf_token": form["csrf_token"]},
    )
    assert r.status_code == 200
    db.session.refresh(token)
    assert token.revoked_at is not None


def test_unknown_invitation_and_reset_links_are_404(client: FlaskClient) -> None:
    assert client.get("/invite/not-a-real-token-at-all").status_code == 404
    assert client.get("/reset/not-a-real-token-at-all").status_code == 404
    assert db.session.scalar(select(User.id).where(User.email == "x")) is None
