"""Settings of the policy area: the per-tenant and per-domain policy keys (their names,
defaults and validation).

Tenant and domain keys live under ``"policy"`` in ``Tenant.settings`` / ``Domain.settings``;
a domain's keys override its tenant's, which override :data:`DEFAULTS`. The tenant time zone
is the foundation's ``Tenant.timezone`` column. Keys:

``auto_escalate`` (bool, false)
    schedule ready escalations (and rollbacks) without waiting for an approval.
``legacy_pct_ramp`` (bool, false)
    add ``pct=0`` to test steps so RFC 7489 receivers also treat them as a test.
``change_window`` ({"days": [...], "start": "HH:MM", "hours": N}, Mon-Thu 10:00 for 4 h)
    when, in the tenant's time zone, approved records are issued for publication.
``soak_days`` ({stage: days}) minimum days in a stage before the next step
    (monitor 14, quarantine_test 7, quarantine 14, reject_test 7).
``window_days`` (14) the look-back of the report evidence the gates read.
``min_reporters`` (2) / ``min_report_days`` (5) report coverage needed in that window.
``min_aligned_share`` (0.98) DMARC-pass share of legitimate (approved) volume.
``sender_volume_threshold`` (20) messages in the window above which a sender must be approved
    and aligned, or marked forwarder/abuse.
``sender_min_pass_share`` (0.95) DMARC-pass share an approved sender needs to count as aligned.
``sender_horizon_days`` (90) how long a sender is remembered: an unclassified sender that fails
    DMARC and sent at least ``sender_volume_threshold`` messages on a day it sends blocks
    escalation, even when quiet in the window, until it is approved, marked, or unseen this long.
``new_sender_quiet_days`` (7) / ``new_sender_min_messages`` (5) no new unknown sender with at
    least that many messages first seen in these last days.
``rollback_aligned_share`` (0.90) / ``rollback_sender_pass_share`` (0.80) while enforcing,
    below these over the last ``rollback_window_days`` (3) the engine proposes a step back.
``publish_grace_hours`` (48) after issuing a record, how long before a reminder is raised.
``reminder_interval_hours`` (24) between two reminders.
``subdomain_policy_cap`` ("reject") the strictest ``sp`` the engine will stage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from msp.config import Setting
from msp.errors import ValidationFailed
from msp.policy.stages import Policy, Stage

# The policy area's one deployment-wide ``MSP_*`` setting is the timeline's retention; its
# schedule is in ``workers/policy.py`` and everything else is per tenant or per domain (below).
SETTINGS: list[Setting] = [
    Setting(
        "POLICY_TIMELINE_RETENTION_DAYS",
        int,
        400,
        help="days a policy timeline entry (daily evaluations, decisions) is kept; a domain's "
        "latest entry and those of an open change always stay (0: for ever)",
    ),
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class ChangeWindow:
    """Weekdays (0 = Monday), a local start time and a length in hours."""

    days: tuple[int, ...] = (0, 1, 2, 3)
    start_minute: int = 10 * 60
    hours: int = 4


DEFAULT_SOAK_DAYS: dict[Stage, int] = {
    Stage.MONITOR: 14,
    Stage.QUARANTINE_TEST: 7,
    Stage.QUARANTINE: 14,
    Stage.REJECT_TEST: 7,
}


@dataclass(frozen=True)
class PolicySettings:
    """The resolved policy settings of one domain (defaults < tenant < domain)."""

    auto_escalate: bool = False
    legacy_pct_ramp: bool = False
    change_window: ChangeWindow = ChangeWindow()
    soak_days: Mapping[Stage, int] = field(default_factory=lambda: dict(DEFAULT_SOAK_DAYS))
    window_days: int = 14
    min_reporters: int = 2
    min_report_days: int = 5
    min_aligned_share: float = 0.98
    sender_volume_threshold: int = 20
    sender_min_pass_share: float = 0.95
    new_sender_quiet_days: int = 7
    sender_horizon_days: int = 90
    new_sender_min_messages: int = 5
    rollback_aligned_share: float = 0.90
    rollback_sender_pass_share: float = 0.80
    rollback_window_days: int = 3
    publish_grace_hours: int = 48
    reminder_interval_hours: int = 24
    subdomain_policy_cap: Policy = Policy.REJECT

    def soak_for(self, stage: Stage) -> int:
        return self.soak_days.get(stage, 0)


DEFAULTS = PolicySettings()

_BOOLS = ("auto_escalate", "legacy_pct_ramp")
_COUNTS = (
    "window_days",
    "min_reporters",
    "min_report_days",
    "sender_volume_threshold",
    "new_sender_quiet_days",
    "new_sender_min_messages",
    "sender_horizon_days",
    "rollback_window_days",
    "publish_grace_hours",
    "reminder_interval_hours",
)
_SHARES = (
    "min_aligned_share",
    "sender_min_pass_share",
    "rollback_aligned_share",
    "rollback_sender_pass_share",
)
KNOWN_KEYS = frozenset(
    (*_BOOLS, *_COUNTS, *_SHARES, "change_window", "soak_days", "subdomain_policy_cap")
)


def _check_scalar(key: str, value: Any) -> str | None:
    if key in _BOOLS and not isinstance(value, bool):
        return "must be true or false"
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if key in _COUNTS and not (is_int and 0 <= value <= 3650):
        return "must be a whole number from 0 to 3650"
    is_num = isinstance(value, int | float) and not isinstance(value, bool)
    if key in _SHARES and not (is_num and 0 <= value <= 1):
        return "must be a number from 0 to 1"
    if key == "subdomain_policy_cap" and value not in {p.value for p in Policy}:
        return "must be none, quarantine or reject"
    return None


def _check_window(value: Any) -> str | None:
    if not isinstance(value, Mapping) or set(value) - {"days", "start", "hours"}:
        return "must be an object with days, start and hours"
    days = value.get("days", [])
    if not isinstance(days, list) or not days or any(d not in WEEKDAYS for d in days):
        return f"days must be a non-empty list of {', '.join(WEEKDAYS)}"
    if not isinstance(value.get("start", "10:00"), str) or not _HHMM.match(
        value.get("start", "10:00")
    ):
        return "start must be HH:MM"
    hours = value.get("hours", 4)
    if not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= 24:
        return "hours must be a whole number from 1 to 24"
    return None


def _check_soak(value: Any) -> str | None:
    stages = {s.value for s in DEFAULT_SOAK_DAYS}
    if not isinstance(value, Mapping) or set(value) - stages:
        return f"must be an object with keys among {', '.join(sorted(stages))}"
    for days in value.values():
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 3650:
            return "days must be whole numbers from 0 to 3650"
    return None


def validation_errors(raw: Mapping[str, Any]) -> dict[str, str]:
    """Problems with a ``policy`` settings object, keyed by setting name (empty when valid)."""
    errors: dict[str, str] = {}
    for key, value in raw.items():
        if key not in KNOWN_KEYS:
            errors[key] = "unknown policy setting"
            continue
        if key == "change_window":
            problem = _check_window(value)
        elif key == "soak_days":
            problem = _check_soak(value)
        else:
            problem = _check_scalar(key, value)
        if problem:
            errors[key] = problem
    return errors


def validate(raw: Mapping[str, Any]) -> None:
    """Raise ValidationFailed (422) with per-key errors when ``raw`` is not valid."""
    errors = validation_errors(raw)
    if errors:
        raise ValidationFailed("invalid policy settings", errors=errors)


def _window(raw: Mapping[str, Any]) -> ChangeWindow:
    hour, minute = (int(part) for part in raw.get("start", "10:00").split(":"))
    days = tuple(sorted(WEEKDAYS.index(day) for day in raw.get("days", WEEKDAYS[:4])))
    return ChangeWindow(days=days, start_minute=hour * 60 + minute, hours=raw.get("hours", 4))


def resolve(tenant: Mapping[str, Any] | None, domain: Mapping[str, Any] | None) -> PolicySettings:
    """Merge tenant and domain ``policy`` objects over the defaults. Invalid objects raise
    ValidationFailed: they are validated when saved, so this only guards against old rows."""
    merged: dict[str, Any] = {}
    soak = {stage.value: days for stage, days in DEFAULT_SOAK_DAYS.items()}
    for layer in (tenant or {}, domain or {}):
        validate(layer)
        soak.update(layer.get("soak_days", {}))
        merged.update({k: v for k, v in layer.items() if k != "soak_days"})
    values: dict[str, Any] = {k: v for k, v in merged.items() if k in _BOOLS + _COUNTS + _SHARES}
    values["soak_days"] = {Stage(name): days for name, days in soak.items()}
    if "change_window" in merged:
        values["change_window"] = _window(merged["change_window"])
    if "subdomain_policy_cap" in merged:
        values["subdomain_policy_cap"] = Policy(merged["subdomain_policy_cap"])
    return PolicySettings(**values)
