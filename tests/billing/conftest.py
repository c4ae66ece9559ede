"""Billing fixtures: a Stripe stand-in on a free loopback port and an app configured for it.

The app is this folder's own (same test database and Redis as the rest of the suite), with
the billing blueprint registered if ``msp.api`` does not list it yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.billing.stripe_events import sign
from tests.billing.stripe_standin import StripeStandin, running_standin
from tests.conftest import migrated_app

API_KEY = "sk_test_billing"
WEBHOOK_SECRET = "whsec_test_billing_secret"
PRICES = {"standard": "price_standard", "pro": "price_pro"}
METER_EVENT = "dmarc_domains"
WEBHOOK = "/api/v1/billing/webhook"


@pytest.fixture(scope="session")
def stripe_standin() -> Iterator[StripeStandin]:
    with running_standin() as standin:
        yield standin


@pytest.fixture(autouse=True)
def _fresh_standin(stripe_standin: StripeStandin) -> None:
    stripe_standin.reset()


def billing_config(base: str) -> dict[str, Any]:
    return {
        "STRIPE_API_KEY": API_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": base,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "STRIPE_PRICES": ",".join(f"{k}={v}" for k, v in PRICES.items()),
        "STRIPE_METER_EVENT": METER_EVENT,
    }


@pytest.fixture(scope="session")
def app(database_url: str, redis_url: str, stripe_standin: StripeStandin) -> Iterator[Flask]:
    with migrated_app(
        database_url, redis_url, **billing_config(stripe_standin.base)
    ) as application:
        yield application


@pytest.fixture
def post_webhook(client: FlaskClient) -> Any:
    """POST a raw webhook body, signed with the endpoint's secret unless told otherwise."""

    def post(
        payload: bytes,
        *,
        secret: str = WEBHOOK_SECRET,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> Any:
        header = signature if signature is not None else sign(payload, secret, timestamp)
        return client.post(
            WEBHOOK,
            data=payload,
            content_type="application/json",
            headers={"Stripe-Signature": header},
        )

    return post
