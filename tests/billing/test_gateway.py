"""The Stripe adapter against the local stand-in, through the SDK's base-address setting."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from msp.billing.errors import (
    BillingGatewayError,
    BillingNotConfigured,
    WebhooksDisabled,
    WebhookSignatureInvalid,
)
from msp.billing.gateway import GatewayConfig, StripeGateway, subscription_from_data
from tests.billing.conftest import API_KEY, WEBHOOK_SECRET
from tests.billing.stripe_events import event, sign, subscription
from tests.billing.stripe_standin import StripeStandin


def _gateway(standin: StripeStandin, **extra: object) -> StripeGateway:
    config = {
        "api_key": API_KEY,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": standin.base,
        "max_network_retries": 0,
        **extra,
    }
    return StripeGateway(GatewayConfig(**config))  # type: ignore[arg-type]


def test_customer_is_created_once_per_idempotency_key(stripe_standin: StripeStandin) -> None:
    gateway = _gateway(stripe_standin)
    first = gateway.create_customer(
        name="Acme", metadata={"tenant_id": "7"}, idempotency_key="msp-tenant-7-customer"
    )
    again = gateway.create_customer(
        name="Acme", metadata={"tenant_id": "7"}, idempotency_key="msp-tenant-7-customer"
    )
    assert first == again
    assert list(stripe_standin.state.customers) == [first.id]
    request = stripe_standin.state.posts("/v1/customers")[0]
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Idempotency-Key"] == "msp-tenant-7-customer"
    assert request.headers["Stripe-Version"]
    assert request.params == {"name": "Acme", "metadata[tenant_id]": "7"}


def test_subscription_snapshot_reads_period_from_items(stripe_standin: StripeStandin) -> None:
    gateway = _gateway(stripe_standin)
    customer = gateway.create_customer(name="Acme", metadata={}, idempotency_key="c1")
    snap = gateway.create_subscription(
        customer_id=customer.id,
        price_id="price_pro",
        metadata={"tenant_id": "7"},
        idempotency_key="s1",
    )
    assert (snap.customer_id, snap.price_id, snap.status) == (customer.id, "price_pro", "active")
    assert snap.current_period_end is not None
    assert snap.current_period_end > datetime.now(UTC)
    params = stripe_standin.state.posts("/v1/subscriptions")[0].params
    assert params["items[0][price]"] == "price_pro"
    assert params["payment_behavior"] == "default_incomplete"
    assert gateway.retrieve_subscription(snap.id) == snap


def test_snapshot_of_older_api_versions_reads_period_from_subscription() -> None:
    data = {
        "id": "sub_1",
        "customer": {"id": "cus_1"},
        "status": "past_due",
        "current_period_end": 1_800_000_000,
        "items": {"data": [{"price": "price_x"}]},
    }
    snap = subscription_from_data(data)
    assert (snap.customer_id, snap.price_id, snap.status) == ("cus_1", "price_x", "past_due")
    assert snap.current_period_end == datetime.fromtimestamp(1_800_000_000, UTC)


def test_stripe_errors_become_gateway_errors(stripe_standin: StripeStandin) -> None:
    gateway = _gateway(stripe_standin)
    with pytest.raises(BillingGatewayError, match="No such subscription"):
        gateway.retrieve_subscription("sub_missing")
    stripe_standin.state.failures.append((500, {"error": {"type": "api_error", "message": "boom"}}))
    with pytest.raises(BillingGatewayError):
        gateway.create_customer(name="x", metadata={}, idempotency_key="k")
    assert stripe_standin.state.customers == {}


def test_unreachable_stripe_is_a_gateway_error() -> None:
    gateway = StripeGateway(
        GatewayConfig(api_key=API_KEY, api_base="http://127.0.0.1:9", max_network_retries=0)
    )
    with pytest.raises(BillingGatewayError):
        gateway.retrieve_subscription("sub_1")


def test_without_api_key_billing_is_not_configured() -> None:
    gateway = StripeGateway(GatewayConfig(api_key=None))
    assert not gateway.enabled
    with pytest.raises(BillingNotConfigured):
        gateway.create_customer(name="x", metadata={}, idempotency_key="k")


def test_meter_event_carries_customer_value_and_identifier(stripe_standin: StripeStandin) -> None:
    at = datetime(2026, 11, 28, 23, 59, 59, tzinfo=UTC)
    _gateway(stripe_standin).report_meter_event(
        event_name="dmarc_domains",
        customer_id="cus_9",
        value=12,
        identifier="msp-9-2026-11-28",
        at=at,
    )
    [sent] = stripe_standin.state.meter_events
    assert sent["payload"] == {"stripe_customer_id": "cus_9", "value": "12"}
    assert (sent["identifier"], sent["timestamp"]) == ("msp-9-2026-11-28", int(at.timestamp()))


def test_webhook_verifies_the_raw_body() -> None:
    gateway = StripeGateway(GatewayConfig(api_key=None, webhook_secret=WEBHOOK_SECRET))
    payload = event(
        "customer.subscription.updated", subscription("sub_1", "cus_1"), event_id="evt_raw"
    )
    verified = gateway.verify_webhook(payload, sign(payload, WEBHOOK_SECRET))
    assert (verified.id, verified.type, verified.object["id"]) == (
        "evt_raw",
        "customer.subscription.updated",
        "sub_1",
    )
    reserialised = json.dumps(json.loads(payload), indent=1).encode()
    with pytest.raises(WebhookSignatureInvalid):
        gateway.verify_webhook(reserialised, sign(payload, WEBHOOK_SECRET))


@pytest.mark.parametrize("case", ["wrong secret", "old timestamp", "no header", "garbage"])
def test_webhook_with_a_bad_signature_is_refused(case: str) -> None:
    gateway = StripeGateway(GatewayConfig(api_key=None, webhook_secret=WEBHOOK_SECRET))
    payload = event("invoice.paid", {"id": "in_1", "object": "invoice", "customer": "cus_1"})
    header = {
        "wrong secret": sign(payload, "whsec_someone_else"),
        "old timestamp": sign(payload, WEBHOOK_SECRET, int(time.time()) - 301),
        "no header": "",
        "garbage": "t=abc,v1=nothex",
    }[case]
    with pytest.raises(WebhookSignatureInvalid):
        gateway.verify_webhook(payload, header)


def test_webhook_without_secret_does_not_exist() -> None:
    gateway = StripeGateway(GatewayConfig(api_key=API_KEY, webhook_secret=None))
    payload = event("invoice.paid", {"id": "in_1"})
    with pytest.raises(WebhooksDisabled):
        gateway.verify_webhook(payload, sign(payload, WEBHOOK_SECRET))
