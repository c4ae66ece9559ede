"""Stripe webhook events for tests, signed with Stripe's real scheme (``t=..,v1=HMAC-SHA256``)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

from tests.billing.stripe_standin import subscription_object

_seq = itertools.count(1)


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header of ``payload``: HMAC-SHA256 of ``"{t}.{payload}"``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(
    event_type: str, obj: dict[str, Any], *, event_id: str | None = None, created: int | None = None
) -> bytes:
    body = {
        "id": event_id or f"evt_test_{next(_seq)}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created or int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


def subscription(
    sub_id: str,
    customer: str,
    *,
    status: str = "active",
    price: str = "price_standard",
    period_end: int | None = None,
) -> dict[str, Any]:
    return subscription_object(
        sub_id, customer, price, status, {}, period_end or int(time.time()) + 30 * 86400
    )


def invoice(invoice_id: str, customer: str, *, paid: bool) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer,
        "status": "paid" if paid else "open",
        "amount_due": 4900,
        "currency": "eur",
    }
