"""Routing rules, table-tested: which teams hear about which events."""

from __future__ import annotations

import pytest

from msp.notifications.routing import DEFAULT_RULES, RuleSpec, route, severity_rank

SD, SYS, SEC, NET = "service_desk", "sysadmins", "security", "network"


@pytest.mark.parametrize(
    ("kind", "severity", "payload", "teams"),
    [
        ("dns.drift", "info", {}, {SYS}),
        ("dns.drift", "warning", {}, {SYS, SD}),
        ("dns.finding.opened", "error", {"code": "spf_missing"}, {SYS, SD}),
        ("dns.finding.opened", "warning", {"code": "mta_sts_mode_testing"}, {SYS, NET, SD}),
        ("dns.finding.opened", "info", {"code": "mx_target_is_cname"}, {SYS, NET}),
        ("dns.finding.closed", "info", {"code": "tlsrpt_missing"}, {SYS, NET}),
        ("sender.new", "info", {}, {SEC}),
        ("sender.new", "warning", {}, {SEC, SD}),
        ("report.rejected", "info", {}, {SEC}),
        ("policy.proposed", "info", {}, {SYS, SD}),
        ("policy.approved", "info", {}, {SYS}),
        ("policy.published", "info", {}, {SYS}),
        ("policy.rollback_proposed", "error", {}, {SYS, SD}),
        ("report.ingested", "info", {}, set()),
        ("billing.payment_failed", "error", {}, {SD}),
        ("something.unknown", "critical", {}, {SD}),
        ("dns.drift", "no-such-severity", {}, {SYS}),
    ],
)
def test_default_rules_route_events_to_the_teams_that_fix_them(
    kind: str, severity: str, payload: dict[str, str], teams: set[str]
) -> None:
    assert route(kind, severity, payload, DEFAULT_RULES) == teams


@pytest.mark.parametrize(
    ("rule", "kind", "severity", "code", "matches"),
    [
        (RuleSpec(SD, "*"), "anything.at.all", "info", "", True),
        (RuleSpec(SD, "policy.*"), "policy.published", "info", "", True),
        (RuleSpec(SD, "policy.*"), "policyx", "info", "", False),
        (RuleSpec(SD, "dns.drift"), "dns.drift.more", "info", "", False),
        (RuleSpec(SD, "*", "error"), "x", "warning", "", False),
        (RuleSpec(SD, "*", "error"), "x", "error", "", True),
        (RuleSpec(SD, "*", "error"), "x", "critical", "", True),
        (RuleSpec(SD, "*", "info", "mx_*"), "dns.finding.opened", "info", "mx_missing", True),
        (RuleSpec(SD, "*", "info", "mx_*"), "dns.finding.opened", "info", "spf_missing", False),
        (RuleSpec(SD, "*", "info", "mx_*"), "dns.finding.opened", "info", "", False),
    ],
)
def test_a_rule_matches_kind_code_and_minimum_severity(
    rule: RuleSpec, kind: str, severity: str, code: str, matches: bool
) -> None:
    assert rule.matches(kind, severity, code) is matches


def test_custom_rules_replace_the_defaults_entirely() -> None:
    rules = [RuleSpec(SEC, "dns.*", "error")]
    assert route("dns.drift", "error", {}, rules) == {SEC}
    assert route("dns.drift", "warning", {}, rules) == set()
    assert route("sender.new", "critical", {}, rules) == set()


def test_severities_are_ordered_and_case_insensitive() -> None:
    ranks = [severity_rank(s) for s in ("info", "warning", "error", "critical")]
    assert ranks == sorted(ranks) and len(set(ranks)) == 4
    assert severity_rank("ERROR") == severity_rank("error")


def test_a_non_string_code_in_the_payload_is_ignored() -> None:
    assert route("dns.finding.opened", "info", {"code": 42}, DEFAULT_RULES) == {SYS}


def test_routine_policy_evaluations_go_to_nobody_by_default() -> None:
    assert route("policy.evaluated", "info", {}, DEFAULT_RULES) == set()
