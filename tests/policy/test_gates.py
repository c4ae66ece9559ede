"""Each gate, table-tested: the ready domain passes, each breakage blocks with its reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from msp.policy import gates
from msp.policy.facts import CoverageFacts, SenderStatus
from msp.policy.stages import Stage

from .builders import NOW, facts, posture, sender

OK = sender()
ABUSE = sender("bulk-spoofer", SenderStatus.ABUSE, 400, 0, selectors=())


@pytest.mark.parametrize("stage", [Stage.MONITOR, Stage.QUARANTINE_TEST, Stage.REJECT_TEST])
def test_a_ready_domain_passes_every_evidence_gate(stage: Stage) -> None:
    results = gates.run_gates(facts(stage), Stage.REJECT, NOW)
    assert [r.gate for r in results if not r.passed] == []
    assert len(results) == len(gates.EVIDENCE_GATES)


BLOCKED_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("soak", {"stage_since": NOW - timedelta(days=3)}, "3 of 14 days in monitor"),
    ("coverage", {"coverage": CoverageFacts(1, 14, 900)}, "reports from 1 receivers, 2 needed"),
    ("coverage", {"coverage": CoverageFacts(3, 2, 900)}, "reports on 2 of the last 14 days"),
    (
        "aligned_share",
        {"senders": (sender(messages=1000, passing=900),)},
        "90.0% of approved mail passes DMARC, 98.0% needed",
    ),
    ("aligned_share", {"senders": (ABUSE,)}, "no mail from approved senders"),
    (
        "senders",
        {
            "senders": (
                OK,
                sender("newsletter", messages=6824, passing=0, dkim_pass=0, spf_pass=6824),
            )
        },
        "3,412 messages/week from newsletter: SPF alignment broke (it sends no aligned DKIM",
    ),
    (
        "senders",
        {"senders": (OK, sender("crm", SenderStatus.UNKNOWN, 300, 0, first_seen_days_ago=40))},
        "150 messages/week from crm (unclassified sender, 0% pass DMARC)",
    ),
    (
        "new_senders",
        {"senders": (OK, sender("new-crm", SenderStatus.UNKNOWN, 8, 8, first_seen_days_ago=2))},
        "new unknown sender new-crm first seen 2026-06-08 (8 messages)",
    ),
    ("spf", {"posture": posture(Stage.MONITOR, spf_valid=False)}, "SPF record is missing"),
    (
        "spf",
        {"posture": posture(Stage.MONITOR, spf_dns_lookups=12)},
        "SPF needs 12 DNS lookups, the limit is 10",
    ),
    ("spf", {"posture": None}, "no DNS check yet"),
    (
        "dkim",
        {"posture": posture(Stage.MONITOR, dkim_selectors={"google": False})},
        "google-workspace: DKIM selector google has no valid key",
    ),
    (
        "dkim",
        {"senders": (sender(dkim_pass=0, selectors=()),)},
        "google-workspace sends no aligned DKIM signature",
    ),
    (
        "record",
        {"posture": posture(Stage.QUARANTINE)},
        "published record: p=quarantine instead of p=none",
    ),
]


@pytest.mark.parametrize(("gate", "changes", "reason"), BLOCKED_CASES)
def test_each_gate_blocks_with_a_reason_that_says_why(
    gate: str, changes: dict[str, Any], reason: str
) -> None:
    results = {r.gate: r for r in gates.run_gates(facts(**changes), Stage.QUARANTINE_TEST, NOW)}
    assert not results[gate].passed
    assert any(r.startswith(reason) for r in results[gate].reasons), results[gate].reasons


def test_small_senders_below_the_threshold_do_not_block() -> None:
    small = sender("tiny-unknown", SenderStatus.UNKNOWN, 19, 0, first_seen_days_ago=30)
    result = gates.senders(facts(senders=(OK, small)), NOW)
    assert result.passed


def test_forwarders_and_abuse_are_allowed_to_fail() -> None:
    forwarder = sender("list-forwarder", SenderStatus.FORWARDER, 500, 100)
    assert gates.senders(facts(senders=(OK, forwarder, ABUSE)), NOW).passed


def test_parked_fast_path_needs_a_dns_check_and_no_legitimate_mail() -> None:
    parked = facts(Stage.NONE, parked=True, senders=(ABUSE,))
    assert [g.__name__ for g in gates.gates_for(Stage.NONE, Stage.PARKED)] == [
        "dns_checked",
        "no_legitimate_mail",
    ]
    assert gates.no_legitimate_mail(parked, NOW).passed
    assert not gates.no_legitimate_mail(replace(parked, senders=(OK,)), NOW).passed


def test_starting_to_monitor_needs_only_a_dns_check() -> None:
    assert gates.gates_for(Stage.NONE, Stage.MONITOR) == (gates.dns_checked,)
