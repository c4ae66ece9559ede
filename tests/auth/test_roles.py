"""Roles on every request: a token is never stronger than its creator is now (hole 2), and only
unrestricted MSP staff create tenants or change their plan and status (hole 14)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.models import Membership
from msp.auth.service import issue_token, principal_for_user
from msp.auth.users import add_membership
from msp.db import utcnow
from msp.extensions import db
from tests.factories import make_domain, make_tenant, make_user, token_caller


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_demoted_creators_token_loses_admin_rights_and_cannot_mint_admin_tokens(
    client: FlaskClient,
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    admin = make_user("tenant_admin", tenant)
    issued = issue_token(
        principal_for_user(admin),
        name="ci",
        tenant_id=tenant.id,
        role="tenant_admin",
        days=30,
        now=utcnow(),
    )
    headers = _bearer(issued.secret)
    body = {"dkim_selectors": ["s1"]}
    assert (
        client.patch(f"/api/v1/domains/{domain.id}", json=body, headers=headers).status_code == 200
    )
    membership = db.session.scalar(select(Membership).where(Membership.user_id == admin.id))
    assert membership is not None
    membership.role = "tenant_viewer"
    db.session.flush()
    r = client.patch(f"/api/v1/domains/{domain.id}", json=body, headers=headers)
    assert r.status_code == 403, r.get_data(as_text=True)
    r = client.post(
        "/api/v1/tokens",
        json={"name": "escalate", "tenant_id": tenant.id, "role": "tenant_admin"},
        headers=headers,
    )
    assert r.status_code == 403, r.get_data(as_text=True)
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["tenant_roles"] == {str(tenant.id): "tenant_viewer"}
    # Promoted again, the token regains what it was issued with (never more).
    membership.role = "tenant_admin"
    db.session.flush()
    assert (
        client.patch(f"/api/v1/domains/{domain.id}", json=body, headers=headers).status_code == 200
    )


def test_viewer_token_of_an_admin_stays_a_viewer(client: FlaskClient) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    admin = make_user("tenant_admin", tenant)
    issued = issue_token(
        principal_for_user(admin),
        name="ro",
        tenant_id=tenant.id,
        role="tenant_viewer",
        days=30,
        now=utcnow(),
    )
    r = client.patch(
        f"/api/v1/domains/{domain.id}", json={"parked": True}, headers=_bearer(issued.secret)
    )
    assert r.status_code == 403


def test_staff_assigned_tokens_keep_working_for_their_tenant(client: FlaskClient) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    staff = make_user("msp_staff", restricted=True)
    add_membership(tenant.id, staff, "staff")
    db.session.flush()
    db.session.refresh(staff)
    issued = issue_token(
        principal_for_user(staff),
        name="staff",
        tenant_id=tenant.id,
        role="tenant_admin",
        days=30,
        now=utcnow(),
    )
    r = client.patch(
        f"/api/v1/domains/{domain.id}", json={"parked": True}, headers=_bearer(issued.secret)
    )
    assert r.status_code == 200, r.get_data(as_text=True)


def _restricted_staff_headers(tenant_id: int) -> dict[str, str]:
    staff = make_user("msp_staff", restricted=True)
    add_membership(tenant_id, staff, "staff")
    db.session.flush()
    db.session.refresh(staff)
    issued = issue_token(
        principal_for_user(staff),
        name="rs",
        tenant_id=None,
        role="msp_staff",
        days=30,
        now=utcnow(),
    )
    return _bearer(issued.secret)


def test_restricted_staff_cannot_create_tenants_or_change_plan_or_status(
    client: FlaskClient,
) -> None:
    tenant = make_tenant()
    headers = _restricted_staff_headers(tenant.id)
    assert (
        client.post("/api/v1/tenants", json={"slug": "rogue"}, headers=headers).status_code == 403
    )
    for change in ({"plan": "enterprise"}, {"status": "suspended"}):
        r = client.patch(f"/api/v1/tenants/{tenant.id}", json=change, headers=headers)
        assert r.status_code == 403, (change, r.get_data(as_text=True))
    r = client.patch(f"/api/v1/tenants/{tenant.id}", json={"name": "Renamed"}, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    staff = token_caller("msp_staff")
    assert (
        client.post("/api/v1/tenants", json={"slug": "fine"}, headers=staff.headers).status_code
        == 201
    )
    r = client.patch(f"/api/v1/tenants/{tenant.id}", json={"plan": "pro"}, headers=staff.headers)
    assert r.status_code == 200
