"""The keys of ``Tenant.settings`` (a JSON object), their types, ranges and defaults.

Known keys:

``failure_reports_redacted`` (bool, true)
    drop the subject, the addresses' local parts and the body of failure reports (RFC 6591)
    before they are stored; read by :mod:`msp.reports.tls_failure`.
``failure_report_retention_days`` (int 1..3650, 30)
    how long failure reports are kept.
``policy`` (object)
    the policy engine's tenant keys, validated by :mod:`msp.policy.settings`.

Unknown keys are refused (422), as the policy area does for its own object: a typo such as
``failure_report_retention_day`` would otherwise be stored and silently ignored, which for
personal data means keeping it longer than the tenant asked. Rows written before this check may
still hold other keys; they are left alone until the settings object is next replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from msp.errors import ValidationFailed
from msp.hooks import tenant_setting_errors, tenant_setting_validators

FAILURE_REPORTS_REDACTED = "failure_reports_redacted"
FAILURE_REPORT_RETENTION_DAYS = "failure_report_retention_days"
POLICY = "policy"

RETENTION_DAYS_MIN = 1
RETENTION_DAYS_MAX = 3650
DEFAULTS: dict[str, Any] = {FAILURE_REPORTS_REDACTED: True, FAILURE_REPORT_RETENTION_DAYS: 30}


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _retention(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be a whole number of days"
    if not RETENTION_DAYS_MIN <= value <= RETENTION_DAYS_MAX:
        return f"must be between {RETENTION_DAYS_MIN} and {RETENTION_DAYS_MAX} days"
    return None


def _policy(value: Any) -> str | dict[str, str] | None:
    if not isinstance(value, Mapping):
        return "must be an object"
    # The policy area owns its keys and validates them through a hook (msp/areas.py): tenancy
    # is the foundation the policy area builds on, so it does not import it.
    return tenant_setting_errors(POLICY, value) or None


def _area_check(key: str) -> Callable[[Any], str | dict[str, str] | None] | None:
    """A key another area declares in msp/areas.py (``tenant_settings``): an object it checks."""
    if key not in tenant_setting_validators():
        return None

    def check(value: Any) -> str | dict[str, str] | None:
        if not isinstance(value, Mapping):
            return "must be an object"
        return tenant_setting_errors(key, value) or None

    return check


CHECKS: dict[str, Callable[[Any], str | dict[str, str] | None]] = {
    FAILURE_REPORTS_REDACTED: _boolean,
    FAILURE_REPORT_RETENTION_DAYS: _retention,
    POLICY: _policy,
}
KNOWN_KEYS = frozenset(CHECKS)


def settings_errors(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Problems with a tenant settings object, keyed by setting name (empty when valid)."""
    errors: dict[str, Any] = {}
    for key, value in raw.items():
        check = CHECKS.get(key) or _area_check(key)
        if check is None:
            known = sorted(KNOWN_KEYS | set(tenant_setting_validators()))
            errors[key] = f"unknown tenant setting (known: {', '.join(known)})"
            continue
        problem = check(value)
        if problem:
            errors[key] = problem
    return errors


def validate_settings(raw: Any) -> dict[str, Any]:
    """Return ``raw`` as a dict, or raise ValidationFailed (422) naming every bad key."""
    if not isinstance(raw, Mapping):
        raise ValidationFailed(
            "tenant settings must be an object", errors={"settings": "must be an object"}
        )
    errors = settings_errors(raw)
    if errors:
        raise ValidationFailed(
            "invalid tenant settings: " + ", ".join(sorted(errors)), errors={"settings": errors}
        )
    return dict(raw)
