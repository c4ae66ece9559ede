"""Judgements 4 and 5: the end of the road is guarded (drift of rua or p at every stage, an
adopted record without reporting flagged, a domain at reject kept watched), and reasons name
the real cause (a DKIM break, the engine's own record being published)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from msp.policy.engine import Action, evaluate
from msp.policy.facts import ChangeKind, ChangeStatus, CoverageFacts, PendingChange, SenderStatus
from msp.policy.gates import GateStatus
from msp.policy.history import dkim_breaks
from msp.policy.records import parse_tags
from msp.policy.simulate import DailyRow
from msp.policy.stages import Stage

from .builders import NOW, day, facts, posture, sender

THEIRS = parse_tags("v=DMARC1; p=reject; rua=mailto:dmarc@example.test")


@pytest.mark.parametrize("stage", [Stage.MONITOR, Stage.QUARANTINE, Stage.REJECT])
def test_a_hand_edit_dropping_rua_is_drift_with_the_fix(stage: Stage) -> None:
    tags = {k: v for k, v in (posture(stage).dmarc_tags or {}).items() if k not in ("rua",)}
    result = evaluate(facts(stage, posture=replace(posture(stage), dmarc_tags=tags)), NOW)
    assert result.drift is not None
    assert result.drift.reasons[0].startswith(
        "the published record no longer sends aggregate reports to this service"
    )
    assert result.drift.fix is not None and "rua=mailto:r0123@" in result.drift.fix.dmarc.text()
    assert result.reasons[0] == result.drift.reasons[0]


def test_a_hand_edit_lowering_p_at_reject_is_drift_and_names_both_ways_out() -> None:
    lowered = dict(posture(Stage.REJECT).dmarc_tags or {}, p="none")
    result = evaluate(
        facts(Stage.REJECT, posture=replace(posture(Stage.REJECT), dmarc_tags=lowered)), NOW
    )
    assert result.drift is not None
    text = result.drift.reasons[0]
    assert "p=none instead of p=reject" in text and "propose a rollback" in text


def test_a_domain_adopted_at_reject_without_our_rua_is_flagged() -> None:
    adopted = facts(Stage.REJECT, posture=replace(posture(Stage.REJECT), dmarc_tags=THEIRS))
    result = evaluate(adopted, NOW)
    assert result.drift is not None
    assert any("rollback watch is blind" in r for r in result.drift.reasons)


def test_an_enforcing_domain_without_reports_says_its_watch_is_blind() -> None:
    quiet = facts(Stage.REJECT, coverage=CoverageFacts())
    result = evaluate(quiet, NOW)
    assert result.drift is not None
    assert result.drift.reasons[-1].startswith("no aggregate reports in the last 14 days")


def test_a_domain_at_reject_is_still_watched_for_breaks() -> None:
    broken = sender(messages=300, passing=30, dkim_pass=30, spf_pass=0)
    result = evaluate(facts(Stage.REJECT, recent_senders=(broken,)), NOW)
    assert result.action is Action.ROLLBACK


def test_no_drift_while_the_engines_own_record_is_being_published() -> None:
    issued = PendingChange(
        ChangeKind.ESCALATE,
        Stage.NONE,
        Stage.MONITOR,
        ChangeStatus.PUBLISHED,
        NOW - timedelta(days=1),
        published_at=NOW - timedelta(hours=2),
    )
    state = facts(Stage.NONE, senders=(), recent_senders=(), posture=posture(Stage.MONITOR))
    result = evaluate(replace(state, pending=issued), NOW)
    assert result.drift is None
    assert result.gates[0].status is GateStatus.PASSED  # not "already published"
    assert result.reasons == (
        "the record issued for monitor is live in DNS: the next check verifies it",
    )


def test_a_dkim_break_is_named_as_such_not_as_spf_alignment() -> None:
    rows = [
        DailyRow(day(d), "crm", SenderStatus.APPROVED, "example.test", "none", False, d > 5, 100)
        for d in range(14, 0, -1)
    ]
    since = dkim_breaks(rows)["crm"]
    assert since == day(5)
    crm = replace(
        sender("crm", messages=1400, passing=900, dkim_pass=900, spf_pass=0, selectors=("s1",)),
        dkim_broken_since=since,
    )
    result = evaluate(facts(senders=(sender(), crm)), NOW)
    text = " ".join(result.reasons)
    assert f"crm: DKIM broke (selector s1, d=example.test, since {day(5).isoformat()}" in text
    assert "fail SPF alignment" not in text
