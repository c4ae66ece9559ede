"""The Stripe adapter: the one module that imports ``stripe``.

Everything Stripe returns is turned into frozen dataclasses here, and every Stripe error into
:class:`~msp.billing.errors.BillingGatewayError`, so the rest of the area never sees the SDK.
POSTs carry idempotency keys chosen by the caller, which makes retries (ours and the SDK's)
safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe

from msp.billing.errors import (
    BillingGatewayError,
    BillingNotConfigured,
    WebhookMalformed,
    WebhooksDisabled,
    WebhookSignatureInvalid,
)


@dataclass(frozen=True)
class GatewayConfig:
    api_key: str | None
    webhook_secret: str | None = None
    api_base: str | None = None
    max_network_retries: int = 2
    webhook_tolerance: int = 300

    @classmethod
    def from_settings(cls, config: Mapping[str, Any]) -> GatewayConfig:
        return cls(
            api_key=config.get("MSP_STRIPE_API_KEY"),
            webhook_secret=config.get("MSP_STRIPE_WEBHOOK_SECRET"),
            api_base=config.get("MSP_STRIPE_API_BASE"),
            max_network_retries=int(config.get("MSP_STRIPE_MAX_NETWORK_RETRIES") or 0),
            webhook_tolerance=int(config.get("MSP_STRIPE_WEBHOOK_TOLERANCE") or 300),
        )


@dataclass(frozen=True)
class CustomerRef:
    id: str


@dataclass(frozen=True)
class SubscriptionSnapshot:
    """What this platform keeps of a Stripe subscription."""

    id: str
    customer_id: str
    status: str
    price_id: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook event; ``object`` is the event's ``data.object`` as plain data."""

    id: str
    type: str
    created: datetime
    livemode: bool
    object: dict[str, Any]


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _id_of(value: Any) -> str:
    """An id from a field that is either an id or an expanded object."""
    if isinstance(value, Mapping):
        return str(value.get("id", ""))
    return str(value or "")


def subscription_from_data(data: Mapping[str, Any]) -> SubscriptionSnapshot:
    """A snapshot from a subscription as plain data (an API answer or a webhook's object).

    Since API version 2025-03-31 the billing period lives on the subscription items; older
    versions carried it on the subscription itself.
    """
    items = (data.get("items") or {}).get("data") or []
    first = items[0] if items else {}
    price = first.get("price") or {}
    period_end = first.get("current_period_end") or data.get("current_period_end")
    return SubscriptionSnapshot(
        id=str(data["id"]),
        customer_id=_id_of(data.get("customer")),
        status=str(data.get("status") or "incomplete"),
        price_id=_id_of(price) or None,
        current_period_end=_timestamp(period_end),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
    )


def webhook_event_from_data(data: Mapping[str, Any]) -> WebhookEvent:
    """The event of a verified webhook body; WebhookMalformed (400) when it is not one."""
    try:
        obj = (data.get("data") or {}).get("object") or {}
        if not isinstance(obj, Mapping) or not isinstance(data["id"], str):
            raise TypeError("no event id, or data.object is not an object")
        return WebhookEvent(
            id=data["id"],
            type=str(data.get("type", "")),
            created=_timestamp(data.get("created")) or datetime.now(UTC),
            livemode=bool(data.get("livemode")),
            object=dict(obj),
        )
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise WebhookMalformed(f"webhook body is not a well-formed Stripe event: {exc}") from exc


class StripeGateway:
    """Stripe's API through one ``StripeClient`` (no global SDK state)."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self._client: stripe.StripeClient | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.config.api_key)

    def client(self) -> stripe.StripeClient:
        if not self.config.api_key:
            raise BillingNotConfigured("billing is off: MSP_STRIPE_API_KEY is not set")
        if self._client is None:
            addresses: dict[str, str] = {}
            if self.config.api_base:
                addresses["api"] = self.config.api_base
            self._client = stripe.StripeClient(
                self.config.api_key,
                base_addresses=addresses,  # type: ignore[arg-type]
                max_network_retries=self.config.max_network_retries,
            )
        return self._client

    def create_customer(
        self, *, name: str, metadata: dict[str, str], idempotency_key: str
    ) -> CustomerRef:
        params: dict[str, Any] = {"name": name, "metadata": metadata}
        customer = self._call(
            lambda c: c.v1.customers.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        )
        return CustomerRef(id=customer.id)

    def create_subscription(
        self, *, customer_id: str, price_id: str, metadata: dict[str, str], idempotency_key: str
    ) -> SubscriptionSnapshot:
        params: dict[str, Any] = {
            "customer": customer_id,
            "items": [{"price": price_id}],
            "metadata": metadata,
            "payment_behavior": "default_incomplete",
        }
        subscription = self._call(
            lambda c: c.v1.subscriptions.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        )
        return subscription_from_data(subscription.to_dict())

    def retrieve_subscription(self, subscription_id: str) -> SubscriptionSnapshot:
        subscription = self._call(lambda c: c.v1.subscriptions.retrieve(subscription_id))
        return subscription_from_data(subscription.to_dict())

    def report_meter_event(
        self, *, event_name: str, customer_id: str, value: int, identifier: str, at: datetime
    ) -> None:
        """One meter event; Stripe drops a repeated ``identifier``, so a re-run is harmless."""
        params: dict[str, Any] = {
            "event_name": event_name,
            "identifier": identifier,
            "timestamp": int(at.timestamp()),
            "payload": {"stripe_customer_id": customer_id, "value": str(value)},
        }
        self._call(
            lambda c: c.v1.billing.meter_events.create(
                params=params, options={"idempotency_key": identifier}
            )
        )

    def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        """The address of a new Stripe customer portal session (payment methods, invoices,
        plan) for ``customer_id``; it expires within minutes, so it is made on each click."""
        params: dict[str, Any] = {"customer": customer_id, "return_url": return_url}
        session = self._call(lambda c: c.v1.billing_portal.sessions.create(params=params))
        return str(session.url)

    def verify_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """The event of a webhook whose signature verifies on the raw body, else an error."""
        secret = self.config.webhook_secret
        if not secret:
            raise WebhooksDisabled("webhooks are off: MSP_STRIPE_WEBHOOK_SECRET is not set")
        try:
            event = stripe.Webhook.construct_event(
                payload, signature or "", secret, tolerance=self.config.webhook_tolerance
            )
        except stripe.SignatureVerificationError as exc:
            raise WebhookSignatureInvalid(f"webhook signature does not verify: {exc}") from exc
        except ValueError as exc:  # signed, but not a JSON event
            raise WebhookSignatureInvalid("webhook body is not a JSON event") from exc
        except (TypeError, AttributeError, KeyError) as exc:  # JSON, but not an object
            raise WebhookMalformed("webhook body is not a Stripe event") from exc
        return webhook_event_from_data(event.to_dict())

    def _call(self, request: Any) -> Any:
        client = self.client()
        try:
            return request(client)
        except stripe.StripeError as exc:
            message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
            raise BillingGatewayError(f"Stripe: {message}") from exc
