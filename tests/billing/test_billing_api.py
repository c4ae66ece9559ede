"""``/api/v1/tenants/{id}/billing`` and ``.../billing/subscribe``: who sees what, and Stripe."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.models import AuditLog
from msp.billing.models import BillingAccount
from msp.extensions import db
from tests.billing.conftest import PRICES
from tests.billing.stripe_standin import StripeStandin
from tests.factories import make_domain, make_tenant, make_user, token_caller


def _billing(tenant_id: int) -> str:
    return f"/api/v1/tenants/{tenant_id}/billing"


def _subscribe(client: FlaskClient, tenant_id: int, plan: str, headers: dict[str, str]) -> Any:
    return client.post(f"{_billing(tenant_id)}/subscribe", json={"plan": plan}, headers=headers)


def test_msp_staff_subscribes_a_tenant_through_stripe(
    client: FlaskClient, stripe_standin: StripeStandin
) -> None:
    tenant = make_tenant("acme", name="Acme Ltd")
    staff = token_caller("msp_staff")
    r = _subscribe(client, tenant.id, "pro", staff.headers)
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert (body["status"], body["plan"], body["standing"]) == ("active", "pro", "good")
    assert body["entitlements"]["max_domains"] == 250
    [customer] = stripe_standin.state.customers.values()
    assert customer["name"] == "Acme Ltd"
    assert customer["metadata"] == {"tenant_id": str(tenant.id), "tenant_slug": "acme"}
    [sub] = stripe_standin.state.subscriptions.values()
    assert sub["customer"] == customer["id"] == body["stripe_customer_id"]
    assert sub["items"]["data"][0]["price"]["id"] == PRICES["pro"]
    assert body["stripe_subscription_id"] == sub["id"]
    keys = [r.headers["Idempotency-Key"] for r in stripe_standin.state.requests]
    assert keys[0] == f"msp-tenant-{tenant.id}-customer"
    assert keys[1].startswith(f"msp-tenant-{tenant.id}-subscribe-price_pro")
    audit = db.session.scalars(
        select(AuditLog).where(
            AuditLog.action == "billing.subscribe", AuditLog.tenant_id == tenant.id
        )
    ).one()
    assert audit.changes["plan"] == "pro"


def test_second_subscription_is_a_conflict_and_reuses_nothing(
    client: FlaskClient, stripe_standin: StripeStandin
) -> None:
    tenant = make_tenant()
    staff = token_caller("msp_staff")
    assert _subscribe(client, tenant.id, "standard", staff.headers).status_code == 201
    r = _subscribe(client, tenant.id, "pro", staff.headers)
    assert r.status_code == 409
    assert len(stripe_standin.state.subscriptions) == 1


def test_resubscribing_after_cancellation_starts_a_new_subscription(
    client: FlaskClient, stripe_standin: StripeStandin
) -> None:
    tenant = make_tenant()
    staff = token_caller("msp_staff")
    assert _subscribe(client, tenant.id, "standard", staff.headers).status_code == 201
    account = db.session.scalars(
        select(BillingAccount).where(BillingAccount.tenant_id == tenant.id)
    ).one()
    account.status = "canceled"
    db.session.flush()
    r = _subscribe(client, tenant.id, "standard", staff.headers)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert len(stripe_standin.state.subscriptions) == 2
    assert len(stripe_standin.state.customers) == 1
    assert r.get_json()["stripe_subscription_id"] != account.stripe_subscription_id


def test_unknown_plan_is_refused_before_calling_stripe(
    client: FlaskClient, stripe_standin: StripeStandin
) -> None:
    tenant = make_tenant()
    r = _subscribe(client, tenant.id, "platinum", token_caller("msp_admin").headers)
    assert r.status_code == 422
    assert "plan" in r.get_json()["errors"]
    assert stripe_standin.state.requests == []


def test_stripe_failure_is_a_bad_gateway_and_stores_nothing(
    client: FlaskClient, stripe_standin: StripeStandin
) -> None:
    tenant = make_tenant()
    stripe_standin.state.failures.append(
        (402, {"error": {"type": "card_error", "message": "Your card was declined."}})
    )
    r = _subscribe(client, tenant.id, "standard", token_caller("msp_admin").headers)
    assert r.status_code == 502
    assert r.mimetype == "application/problem+json"
    assert (
        db.session.scalar(select(BillingAccount).where(BillingAccount.tenant_id == tenant.id))
        is None
    )


def test_only_msp_staff_may_subscribe(client: FlaskClient) -> None:
    tenant = make_tenant()
    assert (
        _subscribe(
            client, tenant.id, "standard", token_caller("tenant_admin", tenant).headers
        ).status_code
        == 403
    )
    assert (
        client.post(f"{_billing(tenant.id)}/subscribe", json={"plan": "standard"}).status_code
        == 401
    )


def test_billing_is_visible_to_msp_staff_and_the_tenants_admin_only(client: FlaskClient) -> None:
    tenant = make_tenant()
    make_domain(tenant)
    make_domain(tenant)
    for role in ("msp_admin", "msp_staff"):
        r = client.get(_billing(tenant.id), headers=token_caller(role).headers)
        assert r.status_code == 200, (role, r.get_data(as_text=True))
    r = client.get(_billing(tenant.id), headers=token_caller("tenant_admin", tenant).headers)
    assert r.status_code == 200
    body = r.get_json()
    assert (body["tenant_id"], body["status"], body["usage"]["domains"]) == (tenant.id, "none", 2)
    assert body["billing_enabled"] is True
    assert (
        client.get(
            _billing(tenant.id), headers=token_caller("tenant_viewer", tenant).headers
        ).status_code
        == 403
    )
    assert client.get(_billing(tenant.id)).status_code == 401


def test_billing_of_another_tenant_is_not_found(client: FlaskClient) -> None:
    mine, theirs = make_tenant(), make_tenant()
    admin = token_caller("tenant_admin", mine)
    r = client.get(_billing(theirs.id), headers=admin.headers)
    assert r.status_code == 404
    assert _subscribe(client, theirs.id, "standard", admin.headers).status_code == 403


def test_restricted_staff_reach_only_assigned_tenants(client: FlaskClient) -> None:
    from msp.auth.users import add_membership

    assigned, other = make_tenant(), make_tenant()
    user = make_user("msp_staff", restricted=True)
    add_membership(assigned.id, user, "staff")
    db.session.flush()
    headers = _login(client, user.email)
    assert client.get(_billing(assigned.id), headers=headers).status_code == 200
    assert client.get(_billing(other.id), headers=headers).status_code == 404
    assert _subscribe(client, other.id, "standard", headers).status_code == 404


def _login(client: FlaskClient, email: str) -> dict[str, str]:
    """A bearer token of ``email`` issued through the service (as the user's own token)."""
    from msp.auth.models import User
    from msp.auth.service import issue_token, principal_for_user
    from msp.db import utcnow

    user = db.session.scalars(select(User).where(User.email == email)).one()
    issued = issue_token(
        principal_for_user(user), name="t", tenant_id=None, role="msp_staff", days=1, now=utcnow()
    )
    return {"Authorization": f"Bearer {issued.secret}"}
