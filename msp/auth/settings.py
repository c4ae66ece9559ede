"""Settings of the accounts area: whether MSP staff must use a second factor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msp.config import Setting, parse_bool

SETTINGS: list[Setting] = [
    Setting(
        "MFA_REQUIRED_FOR_STAFF",
        parse_bool,
        None,
        help="MSP staff must enrol a TOTP second factor before using the console or creating "
        "tokens (unset: on in production, off elsewhere)",
    ),
]


def mfa_required_for_staff(config: Mapping[str, Any]) -> bool:
    value = config.get("MSP_MFA_REQUIRED_FOR_STAFF")
    if value is None:
        return str(config.get("MSP_ENV", config.get("ENV", ""))) == "production"
    return bool(value)
