"""The pure engine: proposals, holds, withdrawals, rollbacks and the change life cycle."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from msp.policy.engine import Action, StepKind, evaluate, step_change
from msp.policy.facts import ChangeKind, ChangeStatus, PendingChange, SenderStatus
from msp.policy.records import parse_tags
from msp.policy.settings import DEFAULTS
from msp.policy.stages import Stage

from .builders import NOW, facts, posture, sender


def pending(
    status: ChangeStatus,
    kind: ChangeKind = ChangeKind.ESCALATE,
    to_stage: Stage = Stage.QUARANTINE_TEST,
    **changes: object,
) -> PendingChange:
    base = PendingChange(kind, Stage.MONITOR, to_stage, status, NOW - timedelta(days=1))
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_ready_domain_is_proposed_for_the_next_stage() -> None:
    result = evaluate(facts(Stage.MONITOR), NOW)
    assert (result.action, result.target, result.readiness) == (
        Action.PROPOSE,
        Stage.QUARANTINE_TEST,
        100,
    )
    assert result.next_records is not None
    assert "t=y" in result.next_records.dmarc.text()
    assert result.auto is False


def test_auto_escalation_opt_in_marks_the_proposal_automatic() -> None:
    result = evaluate(facts(settings=replace(DEFAULTS, auto_escalate=True)), NOW)
    assert result.action is Action.PROPOSE and result.auto


def test_a_checked_domain_without_a_record_is_proposed_monitoring_at_once() -> None:
    result = evaluate(facts(Stage.NONE, senders=(), recent_senders=()), NOW)
    assert (result.action, result.target) == (Action.PROPOSE, Stage.MONITOR)
    assert [g.gate for g in result.gates] == ["dns_checked"]


@pytest.mark.parametrize(
    ("seen", "reason"),
    [(None, "no DNS check yet"), (Stage.REJECT, "a DMARC record is already published")],
)
def test_monitoring_is_never_proposed_blind_or_over_a_published_record(
    seen: Stage | None, reason: str
) -> None:
    checked = None if seen is None else posture(seen)
    result = evaluate(facts(Stage.NONE, posture=checked), NOW)
    assert (result.action, result.reasons) == (Action.HOLD, (reason,))


def test_a_blocked_gate_holds_the_domain_and_lowers_readiness() -> None:
    unknown = sender("shadow-crm", SenderStatus.UNKNOWN, 500, 0, first_seen_days_ago=20)
    result = evaluate(facts(senders=(sender(), unknown)), NOW)
    assert result.action is Action.HOLD
    assert result.readiness == 89  # 8 of 9 gates
    assert any("shadow-crm" in reason for reason in result.reasons)


def test_the_end_of_the_road_holds_with_full_readiness() -> None:
    result = evaluate(facts(Stage.REJECT), NOW)
    assert (result.action, result.next_stage, result.readiness) == (Action.HOLD, None, 100)


def test_an_open_proposal_is_withdrawn_when_a_gate_closes() -> None:
    unknown = sender("shadow-crm", SenderStatus.UNKNOWN, 500, 0, first_seen_days_ago=3)
    result = evaluate(
        facts(senders=(sender(), unknown), pending=pending(ChangeStatus.SCHEDULED)), NOW
    )
    assert result.action is Action.WITHDRAW


def test_a_published_change_is_not_withdrawn_but_left_to_verification() -> None:
    result = evaluate(
        facts(
            posture=posture(Stage.QUARANTINE_TEST),
            pending=pending(ChangeStatus.PUBLISHED, published_at=NOW - timedelta(hours=3)),
        ),
        NOW,
    )
    assert result.action is Action.HOLD


@pytest.mark.parametrize(("live", "action"), [(False, Action.WITHDRAW), (True, Action.HOLD)])
def test_an_issued_record_not_yet_live_is_withdrawn_when_a_gate_closes(
    live: bool, action: Action
) -> None:
    unknown = sender("shadow-crm", SenderStatus.UNKNOWN, 500, 0, first_seen_days_ago=2)
    issued = pending(ChangeStatus.PUBLISHED, published_at=NOW - timedelta(hours=3))
    seen = posture(Stage.QUARANTINE_TEST if live else Stage.MONITOR)
    result = evaluate(facts(senders=(sender(), unknown), posture=seen, pending=issued), NOW)
    assert result.action is action


@pytest.mark.parametrize(
    ("stage", "ramp", "back"),
    [
        (Stage.QUARANTINE, False, Stage.MONITOR),
        (Stage.REJECT, True, Stage.QUARANTINE_TEST),
    ],
)
def test_a_known_sender_breaking_after_escalation_proposes_a_rollback(
    stage: Stage, ramp: bool, back: Stage
) -> None:
    broken = sender(messages=200, passing=20, dkim_pass=20, spf_pass=20)
    settings = replace(DEFAULTS, legacy_pct_ramp=ramp)
    result = evaluate(facts(stage, recent_senders=(broken,), settings=settings), NOW)
    assert (result.action, result.target) == (Action.ROLLBACK, back)
    assert result.reasons[0] == "legitimate mail passing DMARC dropped to 10.0%"
    assert "google-workspace: 180 of 200 messages failed DMARC" in result.reasons[1]


def test_a_rollback_supersedes_an_open_escalation() -> None:
    broken = sender(messages=200, passing=20)
    result = evaluate(
        facts(Stage.QUARANTINE, recent_senders=(broken,), pending=pending(ChangeStatus.PROPOSED)),
        NOW,
    )
    assert result.action is Action.ROLLBACK


def test_failing_unknown_senders_never_trigger_a_rollback() -> None:
    spoof = sender("spoofer", SenderStatus.UNKNOWN, 5000, 0)
    result = evaluate(facts(Stage.REJECT, recent_senders=(sender(messages=200), spoof)), NOW)
    assert result.action is Action.HOLD


def test_monitoring_never_rolls_back() -> None:
    broken = sender(messages=200, passing=20)
    assert evaluate(facts(Stage.MONITOR, recent_senders=(broken,)), NOW).action is not (
        Action.ROLLBACK
    )


def test_an_approved_change_is_scheduled_for_the_next_change_window() -> None:
    step = step_change(pending(ChangeStatus.APPROVED), facts(timezone="Europe/Berlin"), NOW)
    assert step.kind is StepKind.SCHEDULE
    assert step.at == datetime(2026, 6, 10, 8, 0, tzinfo=UTC)


def test_an_approved_rollback_is_issued_at_once_not_at_the_window() -> None:
    change = pending(ChangeStatus.APPROVED, ChangeKind.ROLLBACK, Stage.MONITOR)
    step = step_change(change, facts(Stage.QUARANTINE, timezone="Europe/Berlin"), NOW)
    assert (step.kind, step.at) == (StepKind.SCHEDULE, NOW)


@pytest.mark.parametrize(
    ("scheduled_for", "kind"),
    [(NOW - timedelta(minutes=1), StepKind.PUBLISH), (NOW + timedelta(hours=1), StepKind.WAIT)],
)
def test_a_scheduled_change_is_published_when_due(scheduled_for: datetime, kind: StepKind) -> None:
    change = pending(ChangeStatus.SCHEDULED, scheduled_for=scheduled_for)
    assert step_change(change, facts(), NOW).kind is kind


def test_only_a_check_after_publication_that_matches_verifies() -> None:
    change = pending(ChangeStatus.PUBLISHED, published_at=NOW - timedelta(hours=3))
    matching = posture(Stage.QUARANTINE_TEST)
    assert step_change(change, facts(posture=matching), NOW).kind is StepKind.VERIFY
    stale = replace(matching, checked_at=NOW - timedelta(hours=4))
    assert step_change(change, facts(posture=stale), NOW).kind is StepKind.WAIT


def test_a_record_not_published_in_time_raises_a_reminder_once_a_day() -> None:
    late = NOW - timedelta(hours=49)
    change = pending(ChangeStatus.PUBLISHED, published_at=late)
    step = step_change(change, facts(posture=posture(Stage.MONITOR)), NOW)
    assert step.kind is StepKind.REMIND
    assert step.reasons[0] == "p=none instead of p=quarantine"
    reminded = replace(change, last_reminded_at=NOW - timedelta(hours=3))
    assert step_change(reminded, facts(posture=posture(Stage.MONITOR)), NOW).kind is StepKind.WAIT


def test_a_customer_tweak_that_keeps_the_policy_still_verifies() -> None:
    change = pending(ChangeStatus.PUBLISHED, published_at=NOW - timedelta(hours=3))
    tags = parse_tags(
        "v=DMARC1;p=quarantine;sp=quarantine;np=quarantine;t=y;"
        "rua=mailto:r0123@reports.msp.test,mailto:own@example.test"
    )
    checked = replace(posture(Stage.QUARANTINE_TEST), dmarc_tags=tags)
    assert step_change(change, facts(posture=checked), NOW).kind is StepKind.VERIFY


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"spf_record": "v=spf1 mx -all"}, "SPF is v=spf1 mx -all, not v=spf1 -all"),
        ({"null_mx": False}, "no null MX (MX 0 .)"),
    ],
)
def test_the_parked_fast_path_verifies_only_with_spf_dash_all_and_a_null_mx(
    changes: dict[str, Any], reason: str
) -> None:
    change = pending(
        ChangeStatus.PUBLISHED, to_stage=Stage.PARKED, published_at=NOW - timedelta(hours=3)
    )
    done = facts(Stage.NONE, parked=True, posture=posture(Stage.PARKED))
    assert step_change(change, done, NOW).kind is StepKind.VERIFY
    partial = replace(done, posture=replace(posture(Stage.PARKED), **changes))
    late = replace(change, published_at=NOW - timedelta(hours=50))
    step = step_change(late, partial, NOW)
    assert (step.kind, step.reasons) == (StepKind.REMIND, (reason,))


def test_a_parked_domain_that_starts_sending_approved_mail_is_rolled_back_to_monitor() -> None:
    sending = sender("new-esp", messages=60, passing=0, dkim_pass=0, spf_pass=0)
    spoof = (sender("spoofer", SenderStatus.ABUSE, 900, 0),)
    parked = facts(
        Stage.PARKED,
        parked=True,
        posture=posture(Stage.PARKED),
        senders=spoof,
        recent_senders=spoof,
    )
    assert evaluate(parked, NOW).action is Action.HOLD
    result = evaluate(replace(parked, recent_senders=(sending,)), NOW)
    assert (result.action, result.target) == (Action.ROLLBACK, Stage.MONITOR)
    assert result.reasons[0].startswith("parked domain sends approved mail: new-esp, 60 messages")
