"""Judgement 1: a sender that sends rarely is remembered. A known-but-quiet unclassified sender
that fails DMARC blocks escalation until approved, marked, or unseen for the horizon; the
rollback watch covers every sender that was legitimate before, not only approved ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from msp.policy.engine import Action, evaluate
from msp.policy.facts import KnownSender, SenderStatus
from msp.policy.gates import GateResult, GateStatus
from msp.policy.history import known_senders
from msp.policy.settings import DEFAULTS
from msp.policy.simulate import DailyRow
from msp.policy.stages import Stage

from .builders import NOW, day, facts, sender


def payroll(
    status: SenderStatus = SenderStatus.UNKNOWN, last_days_ago: int = 20, passing: int = 0
) -> KnownSender:
    """300 unaligned messages every four weeks: three runs in the 90-day memory."""
    return KnownSender(
        key="payroll",
        name="Payroll Co",
        status=status,
        messages=900,
        dmarc_pass=passing,
        first_seen=day(last_days_ago + 56),
        last_seen=day(last_days_ago),
        active_days=3,
    )


def gate(result_gates: tuple[GateResult, ...], name: str) -> GateResult:
    return next(g for g in result_gates if g.gate == name)


@pytest.mark.parametrize(
    ("known", "blocked"),
    [
        (payroll(), True),  # quiet in the 14-day window, unaligned, unclassified
        (payroll(SenderStatus.APPROVED), True),  # approved but unaligned: its next run fails
        (payroll(SenderStatus.APPROVED, passing=900), False),  # approved and aligned
        (payroll(SenderStatus.FORWARDER), False),  # marked
        (payroll(SenderStatus.ABUSE), False),  # marked
        (payroll(passing=900), False),  # passes DMARC: enforcement cannot hurt it
        (replace(payroll(), messages=30, active_days=30), False),  # 1 a day: noise
    ],
)
def test_a_rarely_sending_sender_blocks_until_classified(known: KnownSender, blocked: bool) -> None:
    result = evaluate(facts(known_senders=(known,)), NOW)
    quiet = gate(result.gates, "quiet_senders")
    assert quiet.status is (GateStatus.BLOCKED if blocked else GateStatus.PASSED)
    assert (result.action is Action.PROPOSE) is not blocked
    if blocked and known.status is SenderStatus.UNKNOWN:
        reason = quiet.reasons[0]
        assert reason.startswith("Payroll Co sends rarely (~300 messages every ~28 days")
        assert f"until {(day(20) + timedelta(days=90)).isoformat()}" in reason


def test_the_horizon_is_a_per_tenant_setting_read_by_the_loader_window() -> None:
    assert DEFAULTS.sender_horizon_days == 90
    from msp.policy.settings import resolve

    assert resolve({"sender_horizon_days": 120}, None).sender_horizon_days == 120


def test_known_senders_count_sending_days_from_the_daily_rows() -> None:
    stat = replace(
        sender("payroll", SenderStatus.UNKNOWN, 900, 0, first_seen_days_ago=400), last_seen=day(20)
    )
    rows = [
        DailyRow(day(d), "payroll", SenderStatus.UNKNOWN, "example.test", "none", False, False, 300)
        for d in (76, 48, 20)
    ]
    (known,) = known_senders((stat,), rows)
    assert (known.active_days, known.cadence_days, known.typical_volume) == (3, 28, 300)
    assert known.first_seen == day(76)  # first day within the horizon


def test_the_rollback_watch_covers_an_unclassified_sender_that_passed_before() -> None:
    crm = sender("crm", SenderStatus.UNKNOWN, 200, 10, dkim_pass=10, spf_pass=10)
    before = KnownSender("crm", "crm", SenderStatus.UNKNOWN, 2200, 2010, day(80), day(1), 70)
    state = facts(Stage.QUARANTINE, recent_senders=(crm,), known_senders=(before,))
    result = evaluate(state, NOW)
    assert (result.action, result.target) == (Action.ROLLBACK, Stage.MONITOR)
    assert "crm (unclassified, passed before): 190 of 200 messages failed DMARC" in " ".join(
        result.reasons
    )


def test_an_unclassified_sender_that_always_failed_is_not_a_reason_to_roll_back() -> None:
    spoof = sender("spoof", SenderStatus.UNKNOWN, 200, 0, dkim_pass=0, spf_pass=0)
    before = KnownSender("spoof", "spoof", SenderStatus.UNKNOWN, 2200, 0, day(80), day(1), 70)
    state = facts(Stage.QUARANTINE, recent_senders=(spoof,), known_senders=(before,))
    assert evaluate(state, NOW).action is not Action.ROLLBACK
