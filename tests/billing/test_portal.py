"""The "Manage billing" button of the billing settings page: a Stripe customer portal session
made through the stripe library against the local Stripe stand-in, for tenant administrators
and MSP staff only, CSRF-protected and audited; a viewer sees no button and is refused a forged
POST; a Stripe failure is told in words and changes nothing."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from msp.auth.models import AuditLog
from msp.billing.models import BillingAccount
from msp.extensions import db
from msp.tenancy.models import Tenant
from tests.billing.stripe_standin import StripeStandin
from tests.factories import make_tenant, make_user
from tests.web.support import csrf_token, login


def _page(tenant: Tenant) -> str:
    return f"/tenants/{tenant.id}/settings/billing"


def _open_portal(client: FlaskClient, tenant: Tenant, token: str | None = None) -> TestResponse:
    token = token if token is not None else csrf_token(client, _page(tenant))
    return client.post(f"{_page(tenant)}/portal", data={"csrf_token": token})


def test_tenant_admin_is_sent_to_a_portal_session_of_their_customer(
    client: FlaskClient, stripe_standin: StripeStandin
) -> None:
    tenant = make_tenant(name="Acme Dental")
    login(client, make_user("tenant_admin", tenant).email)
    page = client.get(_page(tenant))
    assert 'id="manage-billing"' in page.get_data(True)
    assert "Manage billing of Acme Dental in Stripe" in page.get_data(True)
    policy = page.headers["Content-Security-Policy"]
    assert f"form-action 'self' https://billing.stripe.com {stripe_standin.base}" in policy, (
        "the browser may follow the form's redirect to the portal (and only there)"
    )

    answer = _open_portal(client, tenant)

    assert answer.status_code == 303
    sessions = stripe_standin.state.posts("/v1/billing_portal/sessions")
    assert len(sessions) == 1
    customer = db.session.scalar(
        select(BillingAccount.stripe_customer_id).where(BillingAccount.tenant_id == tenant.id)
    )
    assert customer and sessions[0].params["customer"] == customer, "the tenant's own customer"
    assert sessions[0].params["return_url"].endswith(_page(tenant)), "back to the billing page"
    assert answer.headers["Location"].startswith(stripe_standin.base + "/p/session/bps_")
    entry = db.session.scalar(
        select(AuditLog).where(AuditLog.tenant_id == tenant.id, AuditLog.action == "billing.portal")
    )
    assert entry is not None and entry.changes == {"customer": customer}


def test_a_second_click_reuses_the_customer_and_makes_a_new_session(
    client: FlaskClient, stripe_standin: StripeStandin
) -> None:
    tenant = make_tenant()
    login(client, make_user("msp_admin").email)
    first, second = _open_portal(client, tenant), _open_portal(client, tenant)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] != second.headers["Location"], "a session expires: new one"
    assert len(stripe_standin.state.posts("/v1/customers")) == 1, "one customer per tenant"


def test_viewer_sees_no_button_and_a_forged_post_is_refused(
    client: FlaskClient, stripe_standin: StripeStandin
) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_viewer", tenant).email)
    page = client.get(_page(tenant))
    assert page.status_code == 200 and 'id="manage-billing"' not in page.get_data(True)

    answer = _open_portal(client, tenant, csrf_token(client, _page(tenant)))

    assert answer.status_code == 403 and answer.mimetype == "text/html"
    assert stripe_standin.state.requests == [], "nothing reached Stripe"


def test_another_tenants_portal_is_not_found_and_a_missing_token_refused(
    client: FlaskClient, stripe_standin: StripeStandin
) -> None:
    own, other = make_tenant(), make_tenant()
    login(client, make_user("tenant_admin", own).email)
    assert _open_portal(client, other, csrf_token(client, _page(own))).status_code == 404
    assert _open_portal(client, own, token="").status_code == 400
    assert stripe_standin.state.requests == []


def test_a_stripe_failure_is_told_in_words_and_sends_nobody_away(
    client: FlaskClient, stripe_standin: StripeStandin
) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    token = csrf_token(client, _page(tenant))
    stripe_standin.state.failures.append(
        (500, {"error": {"type": "api_error", "message": "Stripe is having a bad day"}})
    )

    answer = _open_portal(client, tenant, token)

    assert answer.status_code == 302 and answer.headers["Location"].endswith(_page(tenant))
    page = client.get(_page(tenant)).get_data(True)
    assert "The billing portal could not be opened" in page
    assert not db.session.scalar(
        select(AuditLog).where(AuditLog.tenant_id == tenant.id, AuditLog.action == "billing.portal")
    )
