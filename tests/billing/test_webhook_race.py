"""Two deliveries of one Stripe event at once: the unique event id lets exactly one apply it.

This test commits for real (it needs two transactions), so it builds and removes its own rows
instead of using the rolled-back ``db_session``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, insert, select

from msp.billing.models import BillingAccount, StripeEvent
from msp.db import utcnow
from msp.events import Event
from msp.extensions import db
from msp.tenancy.models import Tenant
from msp.tenancy.service import create_tenant
from tests.billing.conftest import WEBHOOK, WEBHOOK_SECRET
from tests.billing.stripe_events import event, invoice, sign

EVENT_ID = "evt_delivered_twice_at_once"


@pytest.fixture
def committed_tenant(app: Flask) -> Iterator[int]:
    with app.app_context():
        tenant = create_tenant(f"race-{int(time.time() * 1000)}")
        db.session.add(BillingAccount(tenant_id=tenant.id, stripe_customer_id=f"cus_{tenant.slug}"))
        db.session.commit()
        tenant_id = tenant.id
    yield tenant_id
    with app.app_context():
        db.session.execute(delete(StripeEvent).where(StripeEvent.stripe_event_id == EVENT_ID))
        db.session.execute(delete(Tenant).where(Tenant.id == tenant_id))
        db.session.commit()


def test_concurrent_duplicate_delivery_loses_the_unique_race(
    app: Flask, committed_tenant: int
) -> None:
    with app.app_context():
        customer = (
            db.session.scalars(
                select(BillingAccount.stripe_customer_id).where(
                    BillingAccount.tenant_id == committed_tenant
                )
            ).one()
            or ""
        )
    payload = event(
        "invoice.payment_failed", invoice("in_race", customer, paid=False), event_id=EVENT_ID
    )
    answers: list[Any] = []

    def deliver() -> None:
        client = FlaskClient(app)
        answers.append(
            client.post(
                WEBHOOK,
                data=payload,
                content_type="application/json",
                headers={"Stripe-Signature": sign(payload, WEBHOOK_SECRET)},
            )
        )

    with app.app_context():
        holder = db.engine.connect()
        first_delivery = holder.begin()  # the other delivery: recorded, not yet committed
        now = utcnow()
        holder.execute(
            insert(StripeEvent).values(
                stripe_event_id=EVENT_ID,
                type="invoice.payment_failed",
                tenant_id=committed_tenant,
                object_id="in_race",
                outcome="applied",
                livemode=False,
                created=now,
                received_at=now,
            )
        )
        second = threading.Thread(target=deliver)
        try:
            second.start()
            second.join(timeout=1.5)
            assert second.is_alive(), "the second delivery should wait on the unique key"
            first_delivery.commit()
            second.join(timeout=30)
        finally:
            if first_delivery.is_active:
                first_delivery.rollback()
            holder.close()
    assert not second.is_alive()
    [answer] = answers
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["outcome"] == "duplicate"
    with app.app_context():
        account = db.session.scalars(
            select(BillingAccount).where(BillingAccount.tenant_id == committed_tenant)
        ).one()
        assert not account.delinquent
        assert (
            db.session.scalars(
                select(Event).where(
                    Event.tenant_id == committed_tenant, Event.kind == "billing.payment_failed"
                )
            ).all()
            == []
        )
