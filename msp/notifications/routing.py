"""Routing: which teams hear about an event. Pure: rules and an event in, team names out.

A rule names a team, an event-kind pattern (``policy.*``, ``dns.drift``, ``*``), an optional
finding-code pattern (matched against ``payload["code"]``) and a minimum severity. A tenant
without rules of its own uses :data:`DEFAULT_RULES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

SERVICE_DESK, SYSADMINS, SECURITY, NETWORK = "service_desk", "sysadmins", "security", "network"
TEAMS = (SERVICE_DESK, SYSADMINS, SECURITY, NETWORK)
TEAM_LABELS = {
    SERVICE_DESK: "Service desk",
    SYSADMINS: "System administrators",
    SECURITY: "Security",
    NETWORK: "Network",
}
# Teams that receive the weekly posture digest when the defaults are created.
DIGEST_TEAMS = frozenset({SERVICE_DESK, SYSADMINS})

SEVERITIES = ("info", "warning", "error", "critical")
_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

# Finding codes about mail transport (MX hosts, MTA-STS, TLS reporting): the network team's.
TRANSPORT_CODES = ("mx_*", "mta_sts_*", "tlsrpt_*", "spf_mx_*", "tls_*", "starttls*")


# Policy events people act on (not the engine's routine "policy.evaluated").
POLICY_KINDS = (
    "policy.proposed",
    "policy.approved",
    "policy.rejected",
    "policy.scheduled",
    "policy.published",
    "policy.verified",
    "policy.reminder",
    "policy.rollback_proposed",
    "policy.withdrawn",
    "policy.drift",
)


def severity_rank(severity: str) -> int:
    """The order of ``severity``; unknown severities count as ``info``."""
    return _RANK.get(severity.lower(), 0)


@dataclass(frozen=True)
class RuleSpec:
    """One routing rule (what the model stores and the defaults declare)."""

    team: str
    kinds: str
    min_severity: str = "info"
    code: str = "*"

    def matches(self, kind: str, severity: str, code: str) -> bool:
        return (
            fnmatchcase(kind, self.kinds)
            and fnmatchcase(code, self.code)
            and severity_rank(severity) >= severity_rank(self.min_severity)
        )


def _transport(team: str) -> list[RuleSpec]:
    return [RuleSpec(team, "dns.finding.*", "info", pattern) for pattern in TRANSPORT_CODES]


DEFAULT_RULES: tuple[RuleSpec, ...] = (
    RuleSpec(SYSADMINS, "dns.drift"),
    RuleSpec(SYSADMINS, "dns.finding.*"),
    *(RuleSpec(SYSADMINS, kind) for kind in POLICY_KINDS),
    RuleSpec(SYSADMINS, "publishing.*"),
    RuleSpec(SECURITY, "sender.new"),
    RuleSpec(SECURITY, "report.rejected"),
    RuleSpec(SECURITY, "report.failure*"),
    *_transport(NETWORK),
    RuleSpec(NETWORK, "tls.*"),
    RuleSpec(NETWORK, "report.tls*"),
    RuleSpec(SERVICE_DESK, "*", "warning"),
    RuleSpec(SERVICE_DESK, "policy.proposed"),
    RuleSpec(SERVICE_DESK, "policy.rollback_proposed"),
)


def event_code(payload: Mapping[str, Any]) -> str:
    code = payload.get("code")
    return code if isinstance(code, str) else ""


def route(
    kind: str, severity: str, payload: Mapping[str, Any], rules: Iterable[RuleSpec]
) -> frozenset[str]:
    """The names of the teams that ``rules`` send this event to."""
    code = event_code(payload)
    return frozenset(rule.team for rule in rules if rule.matches(kind, severity, code))
