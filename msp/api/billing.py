"""``/api/v1/billing/webhook`` (Stripe, signature-verified) and ``/api/v1/tenants/{id}/billing``."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from msp.api.schemas.billing import BillingOverviewSchema, SubscribeSchema, WebhookAnswerSchema
from msp.auth.decorators import require_auth, require_msp
from msp.billing import service
from msp.db import utcnow
from msp.errors import Forbidden, PayloadTooLarge
from msp.tenancy.models import Tenant
from msp.tenancy.scope import get_scoped, require_principal

# Stripe events are a few kilobytes; an unauthenticated endpoint reads no more than this.
WEBHOOK_MAX_BYTES = 2 * 1024 * 1024

blp = Blueprint("billing", __name__, url_prefix="/api/v1", description="Billing")


def _billing_viewer(tenant_id: int) -> None:
    """MSP staff, or the tenant's admin, may see the tenant's billing."""
    principal = require_principal()
    if not (principal.is_msp or principal.tenant_roles.get(tenant_id) == "tenant_admin"):
        raise Forbidden("billing is visible to MSP staff and the tenant's admins")


def _raw_body() -> bytes:
    """The request body exactly as sent (signatures cover the bytes), within the cap."""
    if (request.content_length or 0) > WEBHOOK_MAX_BYTES:
        raise PayloadTooLarge(f"a webhook body is at most {WEBHOOK_MAX_BYTES} bytes")
    # Cached: an app-wide before_request hook may have read the body already.
    body = request.get_data(cache=True)
    if len(body) > WEBHOOK_MAX_BYTES:
        raise PayloadTooLarge(f"a webhook body is at most {WEBHOOK_MAX_BYTES} bytes")
    return body


@blp.route("/billing/webhook")
class StripeWebhook(MethodView):
    @blp.response(200, WebhookAnswerSchema)
    @blp.doc(security=[])
    def post(self) -> Any:
        """Receive a Stripe event: verified on the raw body with ``Stripe-Signature``."""
        body = _raw_body()
        result = service.receive_webhook(
            body, request.headers.get("Stripe-Signature"), service.current_settings()
        )
        return {
            "received": True,
            "event_id": result.event_id,
            "type": result.type,
            "outcome": result.outcome,
        }


@blp.route("/tenants/<int:tenant_id>/billing")
class TenantBilling(MethodView):
    @blp.response(200, BillingOverviewSchema)
    @require_auth
    def get(self, tenant_id: int) -> Any:
        """A tenant's subscription, standing, allowances and month-to-date usage."""
        tenant = get_scoped(Tenant, tenant_id)
        _billing_viewer(tenant.id)
        return service.overview(tenant, service.current_settings(), utcnow().date())


@blp.route("/tenants/<int:tenant_id>/billing/subscribe")
class TenantSubscribe(MethodView):
    # The guard runs before the body is validated: a tenant user gets 403, never 422.
    @require_msp
    @blp.arguments(SubscribeSchema)
    @blp.response(201, BillingOverviewSchema)
    def post(self, data: dict[str, Any], tenant_id: int) -> Any:
        """Subscribe a tenant to a plan (MSP staff): Stripe customer and subscription."""
        tenant = get_scoped(Tenant, tenant_id)
        settings = service.current_settings()
        service.subscribe(tenant, data["plan"], settings)
        return service.overview(tenant, settings, utcnow().date())
