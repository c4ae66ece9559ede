"""The stage machine: order, steps forward, the parked fast path and rollback targets."""

from __future__ import annotations

import pytest

from msp.policy.stages import (
    Stage,
    StageError,
    check_transition,
    is_enforcing,
    next_stage,
    rollback_target,
)


@pytest.mark.parametrize(
    ("stage", "parked", "expected"),
    [
        (Stage.NONE, False, Stage.MONITOR),
        (Stage.MONITOR, False, Stage.QUARANTINE_TEST),
        (Stage.QUARANTINE_TEST, False, Stage.QUARANTINE),
        (Stage.QUARANTINE, False, Stage.REJECT_TEST),
        (Stage.REJECT_TEST, False, Stage.REJECT),
        (Stage.REJECT, False, None),
        (Stage.NONE, True, Stage.PARKED),
        (Stage.MONITOR, True, Stage.PARKED),
        (Stage.QUARANTINE, True, Stage.PARKED),
        (Stage.PARKED, True, None),
    ],
)
def test_next_stage_walks_the_road_or_takes_the_parked_fast_path(
    stage: Stage, parked: bool, expected: Stage | None
) -> None:
    assert next_stage(stage, parked=parked) == expected


@pytest.mark.parametrize(
    ("stage", "ramp", "expected"),
    [
        (Stage.NONE, False, None),
        (Stage.MONITOR, False, None),
        (Stage.QUARANTINE_TEST, False, Stage.MONITOR),
        (Stage.REJECT, False, Stage.MONITOR),
        (Stage.REJECT, True, Stage.QUARANTINE_TEST),
        (Stage.QUARANTINE, True, Stage.QUARANTINE_TEST),
        (Stage.QUARANTINE_TEST, True, Stage.MONITOR),
        (Stage.PARKED, True, Stage.MONITOR),
        (Stage.PARKED, False, Stage.MONITOR),
    ],
)
def test_rollback_returns_to_a_stage_that_delivers_failing_mail_everywhere(
    stage: Stage, ramp: bool, expected: Stage | None
) -> None:
    assert rollback_target(stage, legacy_pct_ramp=ramp) == expected


def test_test_steps_already_count_as_enforcing() -> None:
    assert [s for s in Stage if is_enforcing(s)] == [
        Stage.QUARANTINE_TEST,
        Stage.QUARANTINE,
        Stage.REJECT_TEST,
        Stage.REJECT,
        Stage.PARKED,
    ]


@pytest.mark.parametrize(
    ("current", "target"),
    [(Stage.MONITOR, Stage.REJECT), (Stage.REJECT, Stage.NONE), (Stage.MONITOR, Stage.MONITOR)],
)
def test_skipping_a_stage_is_refused(current: Stage, target: Stage) -> None:
    with pytest.raises(StageError):
        check_transition(current, target)


def test_one_step_forward_and_any_step_back_to_monitor_are_allowed() -> None:
    check_transition(Stage.QUARANTINE, Stage.REJECT_TEST)
    check_transition(Stage.REJECT, Stage.MONITOR)
    check_transition(Stage.MONITOR, Stage.PARKED)
