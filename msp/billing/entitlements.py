"""What a plan allows: domains, the shortest check interval, report retention; pure decisions.

Nothing here touches the database or Stripe: the service gathers the facts (the plan, the
domains in use, the billing standing) and these functions decide. Limits apply only when
billing is enabled on the deployment; a self-hosted MSP that does not bill runs unlimited.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Entitlements:
    """One plan's allowances. ``max_domains`` None: no limit."""

    plan: str
    max_domains: int | None
    min_check_interval_minutes: int
    retention_days: int


PLANS: dict[str, Entitlements] = {
    "trial": Entitlements("trial", 3, 24 * 60, 30),
    "standard": Entitlements("standard", 25, 6 * 60, 180),
    "pro": Entitlements("pro", 250, 60, 400),
    "enterprise": Entitlements("enterprise", None, 15, 730),
}
UNLIMITED = Entitlements("unlimited", None, 15, 730)
# A tenant whose plan name is unknown here (set by hand, or a plan added only in Stripe)
# gets the smallest paid allowance rather than none or everything.
FALLBACK_PLAN = "standard"


class Standing(StrEnum):
    """The tenant's billing standing, as far as entitlements care."""

    GOOD = "good"  # paying, trialing, or not (yet) subscribed
    FLAGGED = "flagged"  # a payment failed or the subscription lapsed: no growth


@dataclass(frozen=True)
class QuotaDecision:
    """Whether one more domain may be added, and why not."""

    allowed: bool
    reason: str  # "ok", "limit" or "standing"
    detail: str


# Subscription statuses that block growth until paid (Stripe's subscription.status values).
BLOCKING_STATUSES = frozenset({"past_due", "unpaid", "canceled", "incomplete_expired", "paused"})


def entitlements_for(plan: str | None, *, billing_enabled: bool) -> Entitlements:
    """The allowances of ``plan``; unlimited when the deployment does not bill."""
    if not billing_enabled:
        return UNLIMITED
    return PLANS.get(plan or FALLBACK_PLAN, PLANS[FALLBACK_PLAN])


def standing_of(subscription_status: str, delinquent: bool) -> Standing:
    if delinquent or subscription_status in BLOCKING_STATUSES:
        return Standing.FLAGGED
    return Standing.GOOD


def decide_domain_quota(
    ent: Entitlements, domains_in_use: int, standing: Standing
) -> QuotaDecision:
    """May the tenant add one more domain? Standing is checked before the count."""
    if standing is Standing.FLAGGED:
        return QuotaDecision(
            False, "standing", "billing needs attention: adding domains is paused until paid"
        )
    if ent.max_domains is not None and domains_in_use >= ent.max_domains:
        return QuotaDecision(
            False,
            "limit",
            f"plan {ent.plan!r} allows {ent.max_domains} domains and {domains_in_use} are in use",
        )
    return QuotaDecision(True, "ok", "")


def allowed_check_interval(ent: Entitlements, requested_minutes: int | None) -> int:
    """The check interval to use: the requested one, but never shorter than the plan allows."""
    if requested_minutes is None:
        return ent.min_check_interval_minutes
    return max(requested_minutes, ent.min_check_interval_minutes)
