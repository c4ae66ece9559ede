"""Who a credential is, kept between reads (msp/auth/principal_cache.py): a read does not look
the credential up again while nothing was written, and any committed change to it (a session
ended, a role lowered) counts at the next request."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select

from msp import generation
from msp.auth.models import ApiToken, Membership, User, UserSession
from msp.auth.service import issue_token, principal_for_user
from msp.db import utcnow
from msp.extensions import db
from msp.tenancy.models import Tenant
from tests.factories import make_tenant, make_user
from tests.web.support import count_statements, login, uncached


def _lookups(statements: list[str]) -> list[str]:
    return [s for s in statements if "FROM user_session" in s or "FROM api_token" in s]


def test_a_read_uses_the_kept_principal_until_a_commit_ends_the_session(
    app: Flask, client: FlaskClient
) -> None:
    tenant = make_tenant()
    user = make_user("tenant_admin", tenant)
    login(client, user.email)
    client.get("/account")
    with count_statements(app) as statements:
        assert client.get(f"/tenants/{tenant.id}").status_code == 200
    assert not _lookups(statements), statements

    for row in db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)):
        row.revoked_at = utcnow()
    db.session.commit()  # logged out elsewhere (or every session ended by a password change)

    answer = client.get(f"/tenants/{tenant.id}")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def _admins_token(tenant: Tenant, role: str) -> tuple[User, ApiToken, dict[str, str]]:
    """A token of ``role`` made by a new tenant admin, committed; and its bearer header."""
    admin = make_user("tenant_admin", tenant)
    issued = issue_token(
        principal_for_user(admin),
        name="kept",
        tenant_id=tenant.id,
        role=role,
        days=30,
        now=utcnow(),
    )
    db.session.commit()
    return admin, issued.token, {"Authorization": f"Bearer {issued.secret}"}


def _warm(app: Flask, client: FlaskClient, headers: dict[str, str]) -> Any:
    """Two reads (the first writes last_used_at), then a third that must use the kept principal."""
    client.get("/api/v1/me", headers=headers)
    client.get("/api/v1/me", headers=headers)
    with count_statements(app) as statements:
        me = client.get("/api/v1/me", headers=headers).get_json()
    assert not _lookups(statements), "served from the kept principal"
    return me


def test_a_tokens_lowered_role_counts_at_the_next_read(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    admin, _, headers = _admins_token(tenant, "tenant_admin")
    me = _warm(app, client, headers)
    assert me["tenant_roles"] == {str(tenant.id): "tenant_admin"}
    membership = db.session.scalar(select(Membership).where(Membership.user_id == admin.id))
    assert membership is not None
    membership.role = "tenant_viewer"
    db.session.commit()

    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["tenant_roles"] == {str(tenant.id): "tenant_viewer"}


def test_a_token_is_looked_up_again_when_its_last_use_is_due_to_be_written(
    app: Flask, client: FlaskClient, redis_conn: Redis
) -> None:
    _, issued, headers = _admins_token(make_tenant(), "tenant_viewer")
    _warm(app, client, headers)

    token = db.session.get(ApiToken, issued.id)
    assert token is not None and token.last_used_at is not None
    token.last_used_at -= timedelta(minutes=5)  # as if the kept entry had outlived its minute
    db.session.commit()
    before = redis_conn.get(generation.KEY)
    with count_statements(app) as statements:
        client.get("/api/v1/me", headers=headers)
    assert _lookups(statements)
    db.session.refresh(token)
    assert utcnow() - token.last_used_at < timedelta(minutes=1)
    # That bookkeeping write is shown by no cached read: it leaves every cache as it was.
    assert redis_conn.get(generation.KEY) == before


def test_writes_always_look_the_credential_up(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    client.get("/account")
    client.get("/account")
    with count_statements(app) as statements:
        client.post("/logout", data={})
    assert _lookups(statements)


def test_with_the_cache_off_every_request_looks_the_credential_up(
    app: Flask, client: FlaskClient
) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    with uncached(app):
        client.get("/account")
        with count_statements(app) as statements:
            client.get("/account")
    assert _lookups(statements)
