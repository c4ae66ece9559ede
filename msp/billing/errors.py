"""Named exceptions of the billing area (all ``AppError``, so the API renders them)."""

from __future__ import annotations

from msp.errors import AppError, BadRequest, NotFound


class BillingNotConfigured(AppError):
    """The deployment has no Stripe key (or no webhook secret): billing is off."""

    status = 503
    title = "Service Unavailable"


class BillingGatewayError(AppError):
    """Stripe refused or could not be reached; nothing was changed here."""

    status = 502
    title = "Bad Gateway"


class WebhookSignatureInvalid(BadRequest):
    """A webhook whose ``Stripe-Signature`` does not verify (wrong, missing or too old)."""


class WebhookMalformed(BadRequest):
    """A webhook whose signature verifies but whose body is not a well-formed Stripe event (or
    whose object lacks what its type needs): 400, nothing applied."""


class WebhooksDisabled(NotFound):
    """No ``MSP_STRIPE_WEBHOOK_SECRET``: the webhook endpoint does not exist on this deployment
    (404, not 503: nothing is down, and an unverifiable event must never be accepted)."""
