"""Settings of the billing area: the Stripe credentials, address, prices and metering.

Billing is off unless ``MSP_STRIPE_API_KEY`` is set: a self-hosted MSP that does not bill
through this platform runs without limits (see :mod:`msp.billing.entitlements`).
"""

from __future__ import annotations

from msp.config import Setting


def parse_prices(raw: str) -> dict[str, str]:
    """``"standard=price_123, pro=price_456"`` as ``{"standard": "price_123", ...}``."""
    prices: dict[str, str] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        plan, sep, price_id = item.partition("=")
        plan, price_id = plan.strip(), price_id.strip()
        if not sep or not plan or not price_id:
            raise ValueError(f"expected plan=price_id, got {item!r}")
        if plan in prices:
            raise ValueError(f"plan {plan!r} is listed twice")
        prices[plan] = price_id
    return prices


def parse_meter_metric(raw: str) -> str:
    value = raw.strip().lower()
    if value not in METER_METRICS:
        raise ValueError(f"expected one of {', '.join(METER_METRICS)}, got {raw!r}")
    return value


METER_METRICS = ("domains", "messages")

SETTINGS: list[Setting] = [
    Setting(
        "STRIPE_API_KEY",
        str,
        None,
        secret=True,
        help="Stripe secret key (sk_...); unset: billing is off",
    ),
    Setting(
        "STRIPE_WEBHOOK_SECRET",
        str,
        None,
        secret=True,
        help="signing secret of the Stripe webhook endpoint (whsec_...)",
    ),
    Setting(
        "STRIPE_API_BASE",
        str,
        None,
        help="Stripe API address (unset: Stripe's own; tests point it at a stand-in)",
    ),
    Setting(
        "STRIPE_MAX_NETWORK_RETRIES",
        int,
        2,
        help="retries of a failed Stripe request (idempotency keys make them safe)",
    ),
    Setting(
        "STRIPE_WEBHOOK_TOLERANCE",
        int,
        300,
        help="seconds a webhook signature timestamp may be old",
    ),
    Setting(
        "STRIPE_PRICES", parse_prices, "", help="plan=price_id,... : the Stripe price of each plan"
    ),
    Setting(
        "STRIPE_METER_EVENT",
        str,
        None,
        help="Stripe billing meter event name; unset: no metered usage is reported",
    ),
    Setting(
        "STRIPE_METER_METRIC",
        parse_meter_metric,
        "domains",
        help="what the daily meter event counts: domains (in use) or messages (reported)",
    ),
]
