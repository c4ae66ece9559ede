"""Stripe webhooks through ``POST /api/v1/billing/webhook``, signed with Stripe's scheme."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from msp.billing.models import BillingAccount, StripeEvent
from msp.billing.service import check_domain_quota, current_settings
from msp.errors import Forbidden
from msp.events import Event
from msp.extensions import db
from msp.tenancy.models import Tenant
from tests.billing.stripe_events import event, invoice, subscription
from tests.billing.stripe_standin import StripeStandin
from tests.factories import make_domain, make_tenant


def _customer(slug: str | None = None, customer: str = "cus_acme") -> Tenant:
    tenant = make_tenant(slug)
    db.session.add(BillingAccount(tenant_id=tenant.id, stripe_customer_id=customer))
    db.session.flush()
    return tenant


def _account(tenant: Tenant) -> BillingAccount:
    db.session.expire_all()
    return db.session.scalars(
        select(BillingAccount).where(BillingAccount.tenant_id == tenant.id)
    ).one()


def _stored(event_id: str) -> StripeEvent | None:
    return db.session.scalar(select(StripeEvent).where(StripeEvent.stripe_event_id == event_id))


def _events(tenant: Tenant, kind: str) -> list[Event]:
    return list(
        db.session.scalars(select(Event).where(Event.tenant_id == tenant.id, Event.kind == kind))
    )


def test_subscription_created_sets_status_plan_and_period(post_webhook: Any) -> None:
    tenant = _customer()
    payload = event(
        "customer.subscription.created",
        subscription("sub_1", "cus_acme", price="price_pro", period_end=1_900_000_000),
        event_id="evt_created",
    )
    r = post_webhook(payload)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.get_json() == {
        "received": True,
        "event_id": "evt_created",
        "type": "customer.subscription.created",
        "outcome": "applied",
    }
    account = _account(tenant)
    assert (account.stripe_subscription_id, account.status, account.plan) == (
        "sub_1",
        "active",
        "pro",
    )
    assert int(account.current_period_end.timestamp()) == 1_900_000_000  # type: ignore[union-attr]
    assert db.session.get(Tenant, tenant.id).plan == "pro"  # type: ignore[union-attr]
    stored = _stored("evt_created")
    assert stored is not None
    assert (stored.tenant_id, stored.outcome, stored.object_id) == (tenant.id, "applied", "sub_1")


def test_replayed_event_id_is_applied_once(post_webhook: Any) -> None:
    tenant = _customer()
    payload = event(
        "invoice.payment_failed", invoice("in_1", "cus_acme", paid=False), event_id="evt_replayed"
    )
    first, again = post_webhook(payload), post_webhook(payload)
    assert first.get_json()["outcome"] == "applied"
    assert again.status_code == 200
    assert again.get_json()["outcome"] == "duplicate"
    assert len(_events(tenant, "billing.payment_failed")) == 1
    count = (
        select(func.count())
        .select_from(StripeEvent)
        .where(StripeEvent.stripe_event_id == "evt_replayed")
    )
    assert db.session.scalar(count) == 1


def test_wrong_signature_is_refused_and_writes_nothing(post_webhook: Any) -> None:
    tenant = _customer()
    payload = event(
        "customer.subscription.deleted",
        subscription("sub_1", "cus_acme", status="canceled"),
        event_id="evt_forged",
    )
    r = post_webhook(payload, secret="whsec_attacker")
    assert r.status_code == 400
    assert r.mimetype == "application/problem+json"
    assert _stored("evt_forged") is None
    assert _account(tenant).status == "none"


def test_old_timestamp_is_refused_as_a_replay(post_webhook: Any) -> None:
    _customer()
    payload = event("invoice.paid", invoice("in_1", "cus_acme", paid=True), event_id="evt_old")
    r = post_webhook(payload, timestamp=int(time.time()) - 600)
    assert r.status_code == 400
    assert "signature" in r.get_json()["detail"]
    assert _stored("evt_old") is None


@pytest.mark.parametrize("signature", ["", "t=1,v1=00", "v1=deadbeef"])
def test_missing_or_malformed_signature_is_refused(post_webhook: Any, signature: str) -> None:
    payload = event("invoice.paid", invoice("in_1", "cus_acme", paid=True))
    assert post_webhook(payload, signature=signature).status_code == 400


def test_signed_body_that_is_not_an_event_is_refused(post_webhook: Any) -> None:
    assert post_webhook(b"not json at all").status_code == 400


def test_unknown_event_type_is_recorded_and_ignored(post_webhook: Any) -> None:
    payload = event(
        "charge.refunded",
        {"id": "ch_1", "object": "charge", "customer": "cus_acme"},
        event_id="evt_unknown",
    )
    r = post_webhook(payload)
    assert r.status_code == 200
    assert r.get_json()["outcome"] == "ignored"
    stored = _stored("evt_unknown")
    assert stored is not None
    assert (stored.type, stored.outcome, stored.tenant_id) == ("charge.refunded", "ignored", None)


def test_event_for_an_unknown_customer_is_recorded_as_unmatched(post_webhook: Any) -> None:
    payload = event(
        "customer.subscription.updated", subscription("sub_9", "cus_nobody"), event_id="evt_nobody"
    )
    assert post_webhook(payload).get_json()["outcome"] == "unmatched"
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(BillingAccount)
            .where(BillingAccount.stripe_subscription_id == "sub_9")
        )
        == 0
    )


def test_older_event_arriving_late_does_not_overwrite_newer_state(post_webhook: Any) -> None:
    tenant = _customer()
    now = int(time.time())
    newer = event(
        "customer.subscription.updated",
        subscription("sub_1", "cus_acme", status="active"),
        created=now,
    )
    older = event(
        "customer.subscription.updated",
        subscription("sub_1", "cus_acme", status="past_due"),
        created=now - 60,
    )
    assert post_webhook(newer).get_json()["outcome"] == "applied"
    assert post_webhook(older).get_json()["outcome"] == "stale"
    assert _account(tenant).status == "active"


def test_late_deletion_of_an_old_subscription_keeps_the_new_one(post_webhook: Any) -> None:
    tenant = _customer()
    now = int(time.time())
    post_webhook(
        event("customer.subscription.created", subscription("sub_new", "cus_acme"), created=now - 5)
    )
    r = post_webhook(
        event(
            "customer.subscription.deleted",
            subscription("sub_old", "cus_acme", status="canceled"),
            created=now,
        )
    )
    assert r.get_json()["outcome"] == "stale"
    account = _account(tenant)
    assert (account.stripe_subscription_id, account.status) == ("sub_new", "active")


def test_deleted_subscription_ends_it_and_flags_the_tenant(post_webhook: Any) -> None:
    tenant = _customer()
    now = int(time.time())
    post_webhook(
        event("customer.subscription.created", subscription("sub_1", "cus_acme"), created=now - 5)
    )
    # A "deleted" event always means the subscription ended, whatever status it carries.
    post_webhook(
        event(
            "customer.subscription.deleted",
            subscription("sub_1", "cus_acme", status="active"),
            created=now,
        )
    )
    assert _account(tenant).status == "canceled"
    changes = [e.payload for e in _events(tenant, "billing.status_changed")]
    assert changes == [
        {"from": "none", "to": "active", "plan": "standard"},
        {"from": "active", "to": "canceled", "plan": "standard"},
    ]
    assert db.session.get(Tenant, tenant.id) is not None


def test_failed_payment_flags_the_tenant_and_paid_invoice_clears_it(
    post_webhook: Any, app: Any
) -> None:
    tenant = _customer()
    make_domain(tenant, "kept.example")
    now = int(time.time())
    post_webhook(
        event("invoice.payment_failed", invoice("in_1", "cus_acme", paid=False), created=now - 10)
    )
    account = _account(tenant)
    assert account.delinquent and account.payment_failed_at is not None
    assert db.session.get(Tenant, tenant.id) is not None  # flagged, not deleted
    assert _events(tenant, "billing.payment_failed")[0].severity == "warning"
    with pytest.raises(Forbidden):
        check_domain_quota(tenant, current_settings())

    post_webhook(event("invoice.paid", invoice("in_1", "cus_acme", paid=True), created=now))
    account = _account(tenant)
    assert not account.delinquent and account.payment_failed_at is None
    assert len(_events(tenant, "billing.payment_recovered")) == 1
    check_domain_quota(tenant, current_settings())


def test_webhook_needs_no_bearer_token_and_ignores_cookies(post_webhook: Any, client: Any) -> None:
    client.set_cookie("session", "not-a-session")
    payload = event("invoice.paid", invoice("in_1", "cus_acme", paid=True))
    assert post_webhook(payload).status_code == 200


def test_webhook_events_of_one_tenant_never_touch_another(post_webhook: Any) -> None:
    a = _customer("tenant-a", "cus_a")
    b = _customer("tenant-b", "cus_b")
    post_webhook(event("invoice.payment_failed", invoice("in_a", "cus_a", paid=False)))
    post_webhook(
        event("customer.subscription.created", subscription("sub_a", "cus_a", status="past_due"))
    )
    account_b = _account(b)
    assert (account_b.delinquent, account_b.status, account_b.stripe_subscription_id) == (
        False,
        "none",
        None,
    )
    assert _events(b, "billing.payment_failed") == []
    assert _account(a).delinquent


def test_oversized_webhook_body_is_refused_unread(post_webhook: Any) -> None:
    from msp.api.billing import WEBHOOK_MAX_BYTES

    padding = {
        "id": "in_big",
        "object": "invoice",
        "customer": "cus_acme",
        "description": "x" * (WEBHOOK_MAX_BYTES + 10),
    }
    payload = event("invoice.paid", padding, event_id="evt_big")
    r = post_webhook(payload)
    assert r.status_code == 413
    assert _stored("evt_big") is None


def test_without_a_webhook_secret_the_endpoint_does_not_exist(
    database_url: str, redis_url: str
) -> None:
    from msp import create_app
    from tests.conftest import test_config

    bare = create_app(test_config(database_url, redis_url))
    payload = event("invoice.paid", invoice("in_1", "cus_acme", paid=True))
    r = bare.test_client().post(
        "/api/v1/billing/webhook",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": "t=1,v1=00"},
    )
    assert r.status_code == 404
    assert r.mimetype == "application/problem+json"
    with bare.app_context():
        db.engine.dispose()


def _in_stripe(standin: StripeStandin, sub_id: str, status: str) -> None:
    """What the stand-in answers for ``GET /v1/subscriptions/{sub_id}``."""
    standin.state.subscriptions[sub_id] = subscription(sub_id, "cus_acme", status=status)


def test_deleted_then_updated_in_the_same_second_stays_canceled(
    post_webhook: Any, stripe_standin: StripeStandin
) -> None:
    """Stripe delivers out of order and `created` has one-second resolution: an "updated"
    that comes after the "deleted" of the same second must not revive the subscription."""
    tenant = _customer()
    now = int(time.time())
    post_webhook(
        event("customer.subscription.created", subscription("sub_1", "cus_acme"), created=now - 5)
    )
    _in_stripe(stripe_standin, "sub_1", "canceled")
    deleted = subscription("sub_1", "cus_acme", status="canceled")
    updated = subscription("sub_1", "cus_acme", status="active")
    post_webhook(event("customer.subscription.deleted", deleted, created=now))
    post_webhook(event("customer.subscription.updated", updated, created=now))
    assert _account(tenant).status == "canceled"


def test_same_second_events_are_ordered_by_the_subscription_as_fetched(
    post_webhook: Any, stripe_standin: StripeStandin
) -> None:
    tenant = _customer()
    now = int(time.time())
    _in_stripe(stripe_standin, "sub_1", "past_due")
    for status in ("past_due", "active"):  # delivered in the wrong order, same second
        post_webhook(
            event(
                "customer.subscription.updated",
                subscription("sub_1", "cus_acme", status=status),
                created=now,
            )
        )
    assert _account(tenant).status == "past_due"
    fetched = [r for r in stripe_standin.state.requests if r.path == "/v1/subscriptions/sub_1"]
    assert len(fetched) == 1  # only the tie asked Stripe


def test_without_stripe_an_ended_subscription_is_never_revived(post_webhook: Any) -> None:
    """The ordering rule when Stripe cannot be asked (the stand-in knows no sub_1 here)."""
    tenant = _customer()
    now = int(time.time())
    deleted = subscription("sub_1", "cus_acme", status="canceled")
    post_webhook(event("customer.subscription.deleted", deleted, created=now))
    late = post_webhook(
        event(
            "customer.subscription.updated",
            subscription("sub_1", "cus_acme", status="active"),
            created=now,
        )
    )
    assert late.status_code == 200 and late.get_json()["outcome"] == "stale"
    assert _account(tenant).status == "canceled"


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'"an event"',
        json.dumps({"id": 5, "type": "invoice.paid", "data": {"object": {}}}).encode(),
        json.dumps({"id": "evt_x", "type": "invoice.paid", "data": {"object": "x"}}).encode(),
        json.dumps({"id": "evt_x", "created": "soon", "data": {"object": {}}}).encode(),
        event("customer.subscription.updated", {"customer": "cus_acme", "status": "active"}),
        event("customer.subscription.updated", {"id": "sub_1", "customer": "cus_acme", "items": 3}),
    ],
)
def test_a_signed_but_malformed_event_is_a_400_and_writes_nothing(
    post_webhook: Any, body: bytes
) -> None:
    tenant = _customer()
    before = db.session.scalar(select(func.count()).select_from(StripeEvent))
    r = post_webhook(body)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == before
    assert _account(tenant).status == "none"
