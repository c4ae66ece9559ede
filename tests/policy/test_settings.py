"""Tenant and domain policy settings: defaults, layering and validation."""

from __future__ import annotations

import pytest

from msp.errors import ValidationFailed
from msp.policy.settings import DEFAULTS, ChangeWindow, resolve, validation_errors
from msp.policy.stages import Policy, Stage


def test_defaults_apply_when_nothing_is_set() -> None:
    assert resolve(None, None) == DEFAULTS
    assert DEFAULTS.soak_for(Stage.MONITOR) == 14
    assert DEFAULTS.auto_escalate is False


def test_domain_keys_override_tenant_keys_which_override_defaults() -> None:
    tenant = {
        "auto_escalate": True,
        "min_reporters": 3,
        "soak_days": {"monitor": 30},
        "change_window": {"days": ["tue", "wed"], "start": "22:30", "hours": 2},
    }
    domain = {"min_reporters": 1, "soak_days": {"quarantine": 21}, "subdomain_policy_cap": "none"}
    settings = resolve(tenant, domain)
    assert settings.auto_escalate is True
    assert settings.min_reporters == 1
    assert settings.soak_for(Stage.MONITOR) == 30
    assert settings.soak_for(Stage.QUARANTINE) == 21
    assert settings.soak_for(Stage.REJECT_TEST) == 7
    assert settings.change_window == ChangeWindow(days=(1, 2), start_minute=22 * 60 + 30, hours=2)
    assert settings.subdomain_policy_cap is Policy.NONE


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"auto_escalate": "yes"}, "auto_escalate"),
        ({"min_reporters": -1}, "min_reporters"),
        ({"min_reporters": True}, "min_reporters"),
        ({"min_aligned_share": 1.5}, "min_aligned_share"),
        ({"soak_days": {"reject": 3}}, "soak_days"),
        ({"soak_days": {"monitor": "14"}}, "soak_days"),
        ({"change_window": {"days": ["fri"], "start": "25:00"}}, "change_window"),
        ({"change_window": {"days": []}}, "change_window"),
        ({"change_window": {"days": ["mon"], "hours": 0}}, "change_window"),
        ({"subdomain_policy_cap": "drop"}, "subdomain_policy_cap"),
        ({"pct": 50}, "pct"),
    ],
)
def test_invalid_settings_are_reported_by_key(raw: dict[str, object], key: str) -> None:
    assert list(validation_errors(raw)) == [key]
    with pytest.raises(ValidationFailed) as caught:
        resolve(raw, None)
    assert key in caught.value.errors
