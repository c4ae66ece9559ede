"""Judgement 2: a DNS failure is unknown, never "missing". No gate flips to failing, nothing is
withdrawn, no reminder says a record is not published, and the plan says why it waits."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from msp.policy.engine import Action, StepKind, evaluate, step_change
from msp.policy.facts import ChangeKind, ChangeStatus, PendingChange, PostureFacts, SenderStatus
from msp.policy.gates import GateStatus
from msp.policy.stages import Stage

from .builders import NOW, facts, posture, sender

ALL = frozenset({"spf", "dmarc", "mx", "dkim:google"})


def outage(stage: Stage, records: frozenset[str] = ALL) -> PostureFacts:
    """What the loader makes of a check whose name server timed out: every section unknown,
    so no tags, no SPF verdict, no keys."""
    return replace(
        posture(stage),
        dmarc_tags=None,
        spf_valid=None,
        spf_dns_lookups=None,
        spf_record=None,
        null_mx=None,
        dkim_selectors={"google": None},
        unreachable=records,
    )


def issued(stage: Stage, hours: int) -> PendingChange:
    return PendingChange(
        ChangeKind.ESCALATE,
        Stage.MONITOR,
        stage,
        ChangeStatus.PUBLISHED,
        NOW - timedelta(days=2),
        published_at=NOW - timedelta(hours=hours),
    )


@pytest.mark.parametrize(
    "stage", [Stage.NONE, Stage.MONITOR, Stage.QUARANTINE_TEST, Stage.QUARANTINE, Stage.REJECT]
)
def test_an_outage_turns_no_gate_to_failing_and_says_dns_was_unreachable(stage: Stage) -> None:
    result = evaluate(facts(stage, posture=outage(stage)), NOW)
    assert all(g.status is not GateStatus.BLOCKED for g in result.gates), result.gates
    assert result.action is Action.HOLD
    assert result.reasons[0].startswith("the last DNS check could not reach DNS for")
    text = " ".join(result.reasons)
    for wrong in ("missing", "not published", "already published", "no valid key"):
        assert wrong not in text
    assert result.unreachable == tuple(sorted(ALL))


def test_an_outage_keeps_the_readiness_the_known_gates_give() -> None:
    ready = evaluate(facts(Stage.MONITOR), NOW)
    blind = evaluate(facts(Stage.MONITOR, posture=outage(Stage.MONITOR)), NOW)
    assert ready.readiness == blind.readiness == 100


def test_an_outage_during_a_proposal_withdraws_nothing() -> None:
    proposed = replace(issued(Stage.QUARANTINE_TEST, 3), status=ChangeStatus.PROPOSED)
    result = evaluate(facts(posture=outage(Stage.MONITOR), pending=proposed), NOW)
    assert result.action is Action.HOLD


def test_an_outage_after_issuing_neither_withdraws_nor_reminds() -> None:
    unknown = sender("shadow-crm", SenderStatus.UNKNOWN, 500, 0, first_seen_days_ago=2)
    late = issued(Stage.QUARANTINE_TEST, 60)
    state = facts(senders=(sender(), unknown), posture=outage(Stage.MONITOR), pending=late)
    assert evaluate(replace(state, senders=(sender(),)), NOW).action is Action.HOLD
    step = step_change(late, state, NOW)
    assert step.kind is StepKind.WAIT
    assert step.reasons[0].startswith("the last DNS check could not reach DNS for DMARC")


def test_only_the_unread_record_waits_a_known_failure_still_blocks() -> None:
    spf_down = replace(posture(Stage.MONITOR), spf_valid=None, unreachable=frozenset({"spf"}))
    broken = sender(messages=1000, passing=500, dkim_pass=500, spf_pass=500)
    result = evaluate(facts(posture=spf_down, senders=(broken,)), NOW)
    gates = {g.gate: g.status for g in result.gates}
    assert gates["spf"] is GateStatus.UNKNOWN
    assert gates["aligned_share"] is GateStatus.BLOCKED


def test_a_domain_without_a_plan_is_not_proposed_monitoring_blind() -> None:
    result = evaluate(facts(Stage.NONE, posture=outage(Stage.NONE)), NOW)
    assert [g.status for g in result.gates] == [GateStatus.UNKNOWN]
    assert result.action is Action.HOLD
