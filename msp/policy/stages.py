"""The stage machine of a domain's road to ``p=reject``: stage names, order and policies.

A domain moves one stage at a time (``none -> monitor -> quarantine_test -> quarantine ->
reject_test -> reject``); a rollback moves one stage back. Parked (non-sending) domains take
the fast path ``none|monitor -> parked``. This module owns only the names and what each
stage means for ``p``, ``sp``, ``np`` and the test flag; the TXT text lives in ``records``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    """A step on the road; the value is what the database and the API store."""

    NONE = "none"
    MONITOR = "monitor"
    QUARANTINE_TEST = "quarantine_test"
    QUARANTINE = "quarantine"
    REJECT_TEST = "reject_test"
    REJECT = "reject"
    PARKED = "parked"


class Policy(StrEnum):
    """A DMARC requested mail-receiver policy (RFC 9989 §4.7 p/sp/np)."""

    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"


POLICY_RANK: dict[Policy, int] = {Policy.NONE: 0, Policy.QUARANTINE: 1, Policy.REJECT: 2}

ROAD: tuple[Stage, ...] = (
    Stage.NONE,
    Stage.MONITOR,
    Stage.QUARANTINE_TEST,
    Stage.QUARANTINE,
    Stage.REJECT_TEST,
    Stage.REJECT,
)

FINAL_STAGES: frozenset[Stage] = frozenset({Stage.REJECT, Stage.PARKED})


class StageError(ValueError):
    """A transition that the stage machine does not allow."""


@dataclass(frozen=True)
class StageSpec:
    """What a stage asks of receivers: the policy for the domain, subdomains, non-existent
    subdomains, and whether it is a test step (``t=y``)."""

    stage: Stage
    p: Policy
    testing: bool


SPECS: dict[Stage, StageSpec] = {
    Stage.MONITOR: StageSpec(Stage.MONITOR, Policy.NONE, testing=False),
    Stage.QUARANTINE_TEST: StageSpec(Stage.QUARANTINE_TEST, Policy.QUARANTINE, testing=True),
    Stage.QUARANTINE: StageSpec(Stage.QUARANTINE, Policy.QUARANTINE, testing=False),
    Stage.REJECT_TEST: StageSpec(Stage.REJECT_TEST, Policy.REJECT, testing=True),
    Stage.REJECT: StageSpec(Stage.REJECT, Policy.REJECT, testing=False),
    Stage.PARKED: StageSpec(Stage.PARKED, Policy.REJECT, testing=False),
}


def rank(stage: Stage) -> int:
    """Position on the road; parked counts as the end of the road."""
    if stage is Stage.PARKED:
        return len(ROAD) - 1
    return ROAD.index(stage)


def next_stage(stage: Stage, *, parked: bool = False) -> Stage | None:
    """The stage after ``stage``, or None at the end. Parked domains jump to ``parked``."""
    if stage in FINAL_STAGES:
        return None
    if parked:
        return Stage.PARKED
    return ROAD[ROAD.index(stage) + 1]


def previous_stage(stage: Stage) -> Stage | None:
    """The stage a rollback returns to (never below ``monitor``), or None."""
    if stage is Stage.PARKED:
        return Stage.MONITOR
    index = ROAD.index(stage)
    if index <= ROAD.index(Stage.MONITOR):
        return None
    return ROAD[index - 1]


def is_enforcing(stage: Stage) -> bool:
    """True from the first test step on: a receiver may act on failing mail."""
    return rank(stage) >= rank(Stage.QUARANTINE_TEST)


def rollback_target(stage: Stage, *, legacy_pct_ramp: bool) -> Stage | None:
    """Where a rollback from ``stage`` goes: the highest stage below it whose failing mail is
    delivered under RFC 7489 and RFC 9989 alike, so the step back stops the loss everywhere.

    RFC 7489 receivers ignore ``t=y``, so a test step only stops enforcement for them when it
    also carries ``pct=0`` (the legacy ramp). Without it that is ``monitor``. A parked domain
    that starts sending goes back to ``monitor``.
    """
    if not is_enforcing(stage):
        return None
    if stage is Stage.PARKED:
        return Stage.MONITOR
    if legacy_pct_ramp and rank(stage) > rank(Stage.QUARANTINE_TEST):
        return Stage.QUARANTINE_TEST
    return Stage.MONITOR


def check_transition(current: Stage, target: Stage) -> None:
    """Raise StageError unless ``target`` is one step forward, parked, or a step back."""
    forward = {next_stage(current), next_stage(current, parked=True)}
    backward = rank(Stage.MONITOR) <= rank(target) < rank(current) and target is not Stage.PARKED
    if target is Stage.NONE or not (target in forward or backward):
        raise StageError(f"cannot move from {current.value} to {target.value}")
