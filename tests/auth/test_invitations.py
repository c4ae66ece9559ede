"""People join a tenant by e-mail invitation only, and no answer reveals whether an address
has an account elsewhere (hole 4)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.models import AuditLog, Invitation, Membership, User
from msp.auth.passwords import verify_password
from msp.extensions import db
from tests.factories import PASSWORD, make_tenant, make_user, token_caller
from tests.notifications.servers import MailSink, smtp_server

NEW_PASSWORD = "invited person's passphrase"
LINK_RE = re.compile(r"/invite/([A-Za-z0-9_-]{20,})")


@pytest.fixture
def mailbox(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[MailSink]:
    with smtp_server() as sink:
        monkeypatch.setitem(app.config, "MSP_SMTP_HOST", "127.0.0.1")
        monkeypatch.setitem(app.config, "MSP_SMTP_PORT", sink.port)
        monkeypatch.setitem(app.config, "MSP_SMTP_STARTTLS", False)
        monkeypatch.setitem(app.config, "MSP_BASE_URL", "https://dmarc.msp.test")
        yield sink


def _token_from(sink: MailSink, to: str) -> str:
    mails = [m for _f, rcpt, m in sink.received if rcpt == [to]]
    assert mails, f"no mail to {to}"
    body = mails[-1].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "https://dmarc.msp.test/invite/" in body
    match = LINK_RE.search(body)
    assert match
    return match.group(1)


def test_tenant_admin_cannot_add_another_tenants_user_by_id(client: FlaskClient) -> None:
    mine, theirs = make_tenant(), make_tenant()
    stranger = make_user("tenant_viewer", theirs, email="victim@b.example")
    admin = token_caller("tenant_admin", mine)
    r = client.post(
        f"/api/v1/tenants/{mine.id}/members",
        json={"user_id": stranger.id, "role": "tenant_viewer"},
        headers=admin.headers,
    )
    assert r.status_code == 403, r.get_data(as_text=True)
    assert "victim@b.example" not in r.get_data(as_text=True)
    assert (
        db.session.scalar(
            select(Membership).where(
                Membership.tenant_id == mine.id, Membership.user_id == stranger.id
            )
        )
        is None
    )


def test_restricted_staff_add_only_users_they_already_see(client: FlaskClient) -> None:
    from msp.auth.service import issue_token, principal_for_user
    from msp.auth.users import add_membership
    from msp.db import utcnow

    mine, theirs = make_tenant(), make_tenant()
    stranger = make_user("tenant_viewer", theirs)
    staff = make_user("msp_staff", restricted=True)
    add_membership(mine.id, staff, "staff")
    db.session.flush()
    db.session.refresh(staff)
    issued = issue_token(
        principal_for_user(staff), name="s", tenant_id=None, role="msp_staff", days=1, now=utcnow()
    )
    r = client.post(
        f"/api/v1/tenants/{mine.id}/members",
        json={"user_id": stranger.id, "role": "tenant_viewer"},
        headers={"Authorization": f"Bearer {issued.secret}"},
    )
    assert r.status_code == 404


def test_creating_a_user_answers_the_same_for_known_and_unknown_addresses(
    client: FlaskClient, mailbox: MailSink
) -> None:
    mine, theirs = make_tenant(), make_tenant()
    make_user("tenant_admin", theirs, email="exists@b.example")
    admin = token_caller("tenant_admin", mine)
    answers = []
    for email in ("exists@b.example", "fresh@new.example"):
        r = client.post(
            "/api/v1/users",
            json={"email": email, "password": "x" * 12, "tenant_id": mine.id},
            headers=admin.headers,
        )
        assert r.status_code == 202, r.get_data(as_text=True)
        body = r.get_json()
        answers.append((sorted(body), body["status"], body["role"]))
        assert "memberships" not in body and "id" not in body
    assert answers[0] == answers[1]
    # Nobody was created or joined: each address got an invitation.
    assert db.session.scalar(select(User).where(User.email == "fresh@new.example")) is None
    assert {to for _f, [to], _m in mailbox.received} == {"exists@b.example", "fresh@new.example"}


def test_invite_accept_creates_the_account_once(client: FlaskClient, mailbox: MailSink) -> None:
    tenant = make_tenant(name="Acme Ltd")
    admin = token_caller("tenant_admin", tenant)
    r = client.post(
        f"/api/v1/tenants/{tenant.id}/invitations",
        json={"email": "New.Person@Example.test", "role": "tenant_admin"},
        headers=admin.headers,
    )
    assert r.status_code == 202, r.get_data(as_text=True)
    assert "token" not in r.get_data(as_text=True).lower().replace("token_", "")
    listed = client.get(f"/api/v1/tenants/{tenant.id}/invitations", headers=admin.headers)
    assert [i["email"] for i in listed.get_json()] == ["new.person@example.test"]
    raw = _token_from(mailbox, "new.person@example.test")
    text = mailbox.received[-1][2].get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Acme Ltd" in text and "7 days" in text
    accept = {"token": raw, "password": NEW_PASSWORD, "name": "New Person"}
    r = client.post("/api/v1/invitations/accept", json=accept)
    assert r.status_code == 200, r.get_data(as_text=True)
    user = db.session.scalar(select(User).where(User.email == "new.person@example.test"))
    assert user is not None and verify_password(user.password_hash, NEW_PASSWORD)
    assert [(m.tenant_id, m.role) for m in user.memberships] == [(tenant.id, "tenant_admin")]
    assert client.post("/api/v1/invitations/accept", json=accept).status_code == 404
    actions = set(
        db.session.scalars(select(AuditLog.action).where(AuditLog.tenant_id == tenant.id))
    )
    assert {"invitation.create", "invitation.accept"} <= actions


def test_an_existing_account_joins_without_its_password_changing(
    client: FlaskClient, mailbox: MailSink
) -> None:
    mine, theirs = make_tenant(), make_tenant()
    person = make_user("tenant_viewer", theirs, email="person@b.example")
    admin = token_caller("tenant_admin", mine)
    client.post(
        f"/api/v1/tenants/{mine.id}/invitations",
        json={"email": "person@b.example"},
        headers=admin.headers,
    )
    raw = _token_from(mailbox, "person@b.example")
    r = client.post(
        "/api/v1/invitations/accept", json={"token": raw, "password": "attacker's choice!!"}
    )
    assert r.status_code == 200
    db.session.refresh(person)
    assert verify_password(person.password_hash, PASSWORD)
    assert {m.tenant_id for m in person.memberships} == {mine.id, theirs.id}


def test_revoked_expired_and_viewer_invitations(client: FlaskClient, mailbox: MailSink) -> None:
    tenant = make_tenant()
    admin, viewer = token_caller("tenant_admin", tenant), token_caller("tenant_viewer", tenant)
    r = client.post(
        f"/api/v1/tenants/{tenant.id}/invitations",
        json={"email": "a@x.test"},
        headers=viewer.headers,
    )
    assert r.status_code == 403
    for email in ("a@x.test", "b@x.test"):
        r = client.post(
            f"/api/v1/tenants/{tenant.id}/invitations", json={"email": email}, headers=admin.headers
        )
        assert r.status_code == 202
    raw_a, raw_b = _token_from(mailbox, "a@x.test"), _token_from(mailbox, "b@x.test")
    inv_a = db.session.scalar(select(Invitation).where(Invitation.email == "a@x.test"))
    inv_b = db.session.scalar(select(Invitation).where(Invitation.email == "b@x.test"))
    assert inv_a is not None and inv_b is not None
    r = client.delete(f"/api/v1/tenants/{tenant.id}/invitations/{inv_a.id}", headers=admin.headers)
    assert r.status_code == 204
    inv_b.expires_at = inv_b.created_at - timedelta(seconds=1)
    db.session.flush()
    for raw in (raw_a, raw_b):
        r = client.post("/api/v1/invitations/accept", json={"token": raw, "password": NEW_PASSWORD})
        assert r.status_code == 404
    assert (
        client.get(f"/api/v1/tenants/{tenant.id}/invitations", headers=admin.headers).get_json()
        == []
    )


def test_changing_a_members_role(client: FlaskClient) -> None:
    tenant = make_tenant()
    person = make_user("tenant_viewer", tenant)
    admin, viewer = token_caller("tenant_admin", tenant), token_caller("tenant_viewer", tenant)
    membership = person.memberships[0]
    url = f"/api/v1/tenants/{tenant.id}/members/{membership.id}"
    assert (
        client.patch(url, json={"role": "tenant_admin"}, headers=viewer.headers).status_code == 403
    )
    r = client.patch(url, json={"role": "tenant_admin"}, headers=admin.headers)
    assert r.status_code == 200 and r.get_json()["role"] == "tenant_admin"
    assert client.patch(url, json={"role": "staff"}, headers=admin.headers).status_code == 422


def test_a_members_other_tenants_are_not_shown(client: FlaskClient) -> None:
    mine, theirs = make_tenant(), make_tenant()
    person = make_user("tenant_viewer", mine, email="both@x.example")
    from msp.auth.users import add_membership

    add_membership(theirs.id, person, "tenant_admin")
    db.session.flush()
    admin = token_caller("tenant_admin", mine)
    one = client.get(f"/api/v1/users/{person.id}", headers=admin.headers).get_json()
    assert [m["tenant_id"] for m in one["memberships"]] == [mine.id]
    listed = client.get("/api/v1/users", headers=admin.headers).get_json()
    assert all(m["tenant_id"] == mine.id for u in listed for m in u["memberships"])
    staff = token_caller("msp_admin")
    one = client.get(f"/api/v1/users/{person.id}", headers=staff.headers).get_json()
    assert {m["tenant_id"] for m in one["memberships"]} == {mine.id, theirs.id}


def test_the_last_administrator_of_a_client_is_neither_removed_nor_demoted(
    client: FlaskClient,
) -> None:
    tenant = make_tenant()
    only = make_user("tenant_admin", tenant).memberships[0]
    msp = token_caller("msp_admin")
    url = f"/api/v1/tenants/{tenant.id}/members/{only.id}"
    demoted = client.patch(url, json={"role": "tenant_viewer"}, headers=msp.headers)
    assert demoted.status_code == 409, demoted.get_json()
    assert "last administrator" in demoted.get_json()["detail"]
    assert client.delete(url, headers=msp.headers).status_code == 409
    make_user("tenant_admin", tenant)  # someone else is made administrator first
    assert client.patch(url, json={"role": "tenant_viewer"}, headers=msp.headers).status_code == 200
    assert client.delete(url, headers=msp.headers).status_code in (200, 204)
