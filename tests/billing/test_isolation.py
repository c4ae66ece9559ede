"""Tenant isolation of billing data: tenant A's users and restricted staff never reach or see
tenant B's billing, and nothing they call changes it or reaches Stripe."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from msp.billing.models import BillingAccount
from msp.extensions import db
from tests.billing.stripe_standin import StripeStandin
from tests.isolation import World, build_world

SECRET_CUSTOMER = "cus_secret_of_b"
SECRET_SUBSCRIPTION = "sub_secret_of_b"


@pytest.fixture
def world(db_session: Any) -> World:
    world = build_world()
    db.session.add(
        BillingAccount(
            tenant_id=world.tenant_b.id,
            stripe_customer_id=SECRET_CUSTOMER,
            stripe_subscription_id=SECRET_SUBSCRIPTION,
            status="past_due",
            plan="pro",
            delinquent=True,
        )
    )
    db.session.add(BillingAccount(tenant_id=world.tenant_a.id, stripe_customer_id="cus_of_a"))
    db.session.flush()
    return world


def _b_state(world: World) -> tuple[Any, ...]:
    db.session.expire_all()
    account = db.session.scalars(
        select(BillingAccount).where(BillingAccount.tenant_id == world.tenant_b.id)
    ).one()
    return (
        account.stripe_customer_id,
        account.stripe_subscription_id,
        account.status,
        account.plan,
        account.delinquent,
    )


@pytest.mark.parametrize("caller_name", ["tenant_admin_a", "tenant_viewer_a", "restricted_staff_a"])
def test_tenant_a_callers_get_nothing_of_tenant_b_billing(
    client: FlaskClient, world: World, stripe_standin: StripeStandin, caller_name: str
) -> None:
    headers = world.callers[caller_name].headers
    before = _b_state(world)
    base = f"/api/v1/tenants/{world.tenant_b.id}/billing"
    answers = [
        client.get(base, headers=headers),
        client.post(f"{base}/subscribe", json={"plan": "standard"}, headers=headers),
    ]
    assert answers[0].status_code == 404
    assert answers[1].status_code in {403, 404}
    for answer in answers:
        text = answer.get_data(as_text=True)
        assert SECRET_CUSTOMER not in text and SECRET_SUBSCRIPTION not in text
        assert world.tenant_b.slug not in text
    assert _b_state(world) == before
    assert stripe_standin.state.requests == []


def test_tenant_admin_sees_only_their_own_billing(client: FlaskClient, world: World) -> None:
    r = client.get(
        f"/api/v1/tenants/{world.tenant_a.id}/billing",
        headers=world.callers["tenant_admin_a"].headers,
    )
    assert r.status_code == 200
    body = r.get_json()
    assert (body["tenant_id"], body["stripe_customer_id"]) == (world.tenant_a.id, "cus_of_a")
    assert SECRET_CUSTOMER not in r.get_data(as_text=True)


def test_restricted_staff_see_their_assigned_tenants_billing(
    client: FlaskClient, world: World
) -> None:
    r = client.get(
        f"/api/v1/tenants/{world.tenant_a.id}/billing",
        headers=world.callers["restricted_staff_a"].headers,
    )
    assert r.status_code == 200
    assert r.get_json()["stripe_customer_id"] == "cus_of_a"
