"""Entitlements and settings parsing: pure, table-tested."""

from __future__ import annotations

import pytest

from msp.billing.entitlements import (
    PLANS,
    UNLIMITED,
    Standing,
    allowed_check_interval,
    decide_domain_quota,
    entitlements_for,
    standing_of,
)
from msp.billing.settings import parse_meter_metric, parse_prices


@pytest.mark.parametrize(
    ("plan", "enabled", "expected"),
    [
        ("standard", True, PLANS["standard"]),
        ("pro", True, PLANS["pro"]),
        ("enterprise", True, PLANS["enterprise"]),
        ("no-such-plan", True, PLANS["standard"]),
        (None, True, PLANS["standard"]),
        ("trial", False, UNLIMITED),
        ("pro", False, UNLIMITED),
    ],
)
def test_entitlements_follow_plan_only_when_billing_is_on(
    plan: str | None, enabled: bool, expected: object
) -> None:
    assert entitlements_for(plan, billing_enabled=enabled) == expected


@pytest.mark.parametrize(
    ("status", "delinquent", "expected"),
    [
        ("none", False, Standing.GOOD),
        ("trialing", False, Standing.GOOD),
        ("active", False, Standing.GOOD),
        ("incomplete", False, Standing.GOOD),
        ("active", True, Standing.FLAGGED),
        ("past_due", False, Standing.FLAGGED),
        ("unpaid", False, Standing.FLAGGED),
        ("canceled", False, Standing.FLAGGED),
        ("incomplete_expired", False, Standing.FLAGGED),
        ("paused", False, Standing.FLAGGED),
    ],
)
def test_standing_is_flagged_by_failed_payment_or_lapsed_subscription(
    status: str, delinquent: bool, expected: Standing
) -> None:
    assert standing_of(status, delinquent) is expected


@pytest.mark.parametrize(
    ("plan", "in_use", "standing", "allowed", "reason"),
    [
        ("trial", 0, Standing.GOOD, True, "ok"),
        ("trial", 2, Standing.GOOD, True, "ok"),
        ("trial", 3, Standing.GOOD, False, "limit"),
        ("trial", 7, Standing.GOOD, False, "limit"),
        ("standard", 24, Standing.GOOD, True, "ok"),
        ("standard", 25, Standing.GOOD, False, "limit"),
        ("enterprise", 100_000, Standing.GOOD, True, "ok"),
        ("standard", 0, Standing.FLAGGED, False, "standing"),
        ("enterprise", 0, Standing.FLAGGED, False, "standing"),
        ("trial", 3, Standing.FLAGGED, False, "standing"),
    ],
)
def test_domain_quota_decision(
    plan: str, in_use: int, standing: Standing, allowed: bool, reason: str
) -> None:
    decision = decide_domain_quota(PLANS[plan], in_use, standing)
    assert (decision.allowed, decision.reason) == (allowed, reason)
    assert bool(decision.detail) is not allowed


@pytest.mark.parametrize(
    ("plan", "requested", "expected"),
    [
        ("trial", None, 1440),
        ("trial", 60, 1440),
        ("trial", 2880, 2880),
        ("pro", 30, 60),
        ("pro", 60, 60),
        ("enterprise", 15, 15),
        ("enterprise", 5, 15),
    ],
)
def test_check_interval_is_never_shorter_than_the_plan_allows(
    plan: str, requested: int | None, expected: int
) -> None:
    assert allowed_check_interval(PLANS[plan], requested) == expected


def test_plans_grow_monotonically() -> None:
    order = ["trial", "standard", "pro", "enterprise"]
    limits = [PLANS[p].max_domains or 10**9 for p in order]
    assert limits == sorted(limits)
    assert [PLANS[p].min_check_interval_minutes for p in order] == sorted(
        (PLANS[p].min_check_interval_minutes for p in order), reverse=True
    )
    assert [PLANS[p].retention_days for p in order] == sorted(
        PLANS[p].retention_days for p in order
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", {}),
        ("standard=price_1", {"standard": "price_1"}),
        (" standard = price_1 , pro=price_2,", {"standard": "price_1", "pro": "price_2"}),
    ],
)
def test_prices_setting_parses_plan_price_pairs(raw: str, expected: dict[str, str]) -> None:
    assert parse_prices(raw) == expected


@pytest.mark.parametrize("raw", ["standard", "=price_1", "standard=", "a=1,a=2"])
def test_prices_setting_rejects_malformed_pairs(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_prices(raw)


def test_meter_metric_setting_accepts_only_known_metrics() -> None:
    assert parse_meter_metric(" Messages ") == "messages"
    with pytest.raises(ValueError):
        parse_meter_metric("seats")
