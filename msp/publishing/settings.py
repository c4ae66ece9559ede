"""Settings of the publishing area (``MSP_PUBLISH_*``, the MSP's hosted zone) and the
tenant's ``publishing`` settings object (its default publish mode).

Modes: ``manual`` (a person copies the issued record: today's behaviour), ``on_approval`` (a
change a person approved is written at its change window; rollbacks at once), ``automatic``
(auto-approved escalations are written too; only for tenants opted into automatic
escalation).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from msp.config import Setting, parse_list


class Mode(StrEnum):
    MANUAL = "manual"
    ON_APPROVAL = "on_approval"
    AUTOMATIC = "automatic"


def parse_seconds(raw: str) -> list[int]:
    values = [int(item) for item in parse_list(raw)]
    if not values or any(v < 0 for v in values):
        raise ValueError("expected a comma-separated list of non-negative seconds")
    return values


def parse_options(raw: str) -> dict[str, str]:
    value = json.loads(raw) if raw.strip() else {}
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object of provider options")
    return {str(k): str(v) for k, v in value.items()}


SETTINGS: list[Setting] = [
    Setting(
        "PUBLISH_RETRY_SECONDS",
        parse_seconds,
        [60, 300, 1800, 7200],
        help="waits before each retry of a provider write; their count is the retry budget",
    ),
    Setting("PUBLISH_TIMEOUT", float, 10.0, help="seconds before a DNS provider call gives up"),
    Setting("PUBLISH_TTL", int, 3600, help="TTL of records the publisher creates"),
    Setting(
        "HOSTED_ZONE",
        str,
        None,
        help="the MSP's own zone for delegated records (records.msp.example; unset: none)",
    ),
    Setting(
        "HOSTED_PROVIDER_KIND", str, None, help="provider of MSP_HOSTED_ZONE: rfc2136 or powerdns"
    ),
    Setting(
        "HOSTED_PROVIDER_OPTIONS",
        parse_options,
        {},
        secret=True,
        help='options of the hosted zone\'s provider as JSON ({"server": "192.0.2.1", ...})',
    ),
]


@dataclass(frozen=True)
class PublishSettings:
    retry_seconds: tuple[int, ...]
    timeout: float
    ttl: int
    hosted_zone: str | None
    hosted_kind: str | None
    hosted_options: Mapping[str, str]


def publish_settings(config: Mapping[str, Any]) -> PublishSettings:
    return PublishSettings(
        retry_seconds=tuple(config.get("MSP_PUBLISH_RETRY_SECONDS") or (60, 300, 1800, 7200)),
        timeout=float(config.get("MSP_PUBLISH_TIMEOUT") or 10.0),
        ttl=int(config.get("MSP_PUBLISH_TTL") or 3600),
        hosted_zone=(config.get("MSP_HOSTED_ZONE") or "").rstrip(".").lower() or None,
        hosted_kind=config.get("MSP_HOSTED_PROVIDER_KIND") or None,
        hosted_options=dict(config.get("MSP_HOSTED_PROVIDER_OPTIONS") or {}),
    )


def validation_errors(raw: Mapping[str, Any]) -> dict[str, str]:
    """Problems with a tenant's ``publishing`` settings object (empty when valid)."""
    errors: dict[str, str] = {}
    for key, value in raw.items():
        if key != "mode":
            errors[key] = "unknown publishing setting"
        elif value not in {m.value for m in Mode}:
            errors[key] = "one of " + ", ".join(m.value for m in Mode)
    return errors
