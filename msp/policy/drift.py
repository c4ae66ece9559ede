"""The end of the road, guarded (pure): at every stage the published record must still carry
the reporting addresses and the tags the engine published. A hand edit that drops ``rua`` or
lowers ``p`` is drift, with a clear reason and the fix (the stage's records); an enforcing
domain without reports has a blind rollback watch, and says so. A domain adopted at
``p=reject`` without a ``rua`` to this service is flagged the same way."""

from __future__ import annotations

from dataclasses import dataclass

from msp.policy.facts import ChangeStatus, DomainFacts
from msp.policy.gates import published_mismatches, unread_for
from msp.policy.records import StageRecords, records_for_stage
from msp.policy.stages import Stage, is_enforcing


@dataclass(frozen=True)
class Drift:
    """Why the published record is not the stage's, and what to publish to fix it."""

    reasons: tuple[str, ...]
    fix: StageRecords | None


def _being_published(facts: DomainFacts) -> bool:
    pending = facts.pending
    return pending is not None and pending.status is ChangeStatus.PUBLISHED


def _explain(mismatch: str, facts: DomainFacts) -> str:
    if mismatch.startswith("rua lacks"):
        return (
            f"the published record no longer sends aggregate reports to this service ({mismatch}):"
            " without them the rollback watch is blind"
        )
    if mismatch.startswith("p="):
        return (
            f"the published policy was changed by hand ({mismatch}) while the plan is at "
            f"{facts.stage.value}: publish the stage's record again, or propose a rollback if it "
            "was lowered on purpose"
        )
    return f"the published record differs from the plan's: {mismatch}"


def drift(facts: DomainFacts) -> Drift | None:
    """The domain's drift, or None. Not judged while no stage is planned, while the engine's
    own issued record is being published, or when DNS could not be read."""
    if facts.stage is Stage.NONE or facts.posture is None or _being_published(facts):
        return None
    if unread_for(facts.posture, facts.stage):
        return None
    reasons = [
        _explain(m, facts) for m in published_mismatches(facts.posture, facts.stage, facts.records)
    ]
    if is_enforcing(facts.stage) and facts.coverage.messages == 0:
        reasons.append(
            f"no aggregate reports in the last {facts.settings.window_days} days while "
            f"{facts.stage.value} is enforced: the rollback watch cannot see lost mail"
        )
    if not reasons:
        return None
    return Drift(tuple(reasons), records_for_stage(facts.name, facts.stage, facts.records))
