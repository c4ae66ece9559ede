"""The policy service on PostgreSQL: evaluation, proposals, decisions, publication,
verification, reminders, rollbacks, and the timeline with its events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from msp.errors import Conflict, ValidationFailed
from msp.events import Event
from msp.extensions import db
from msp.policy import service
from msp.policy.engine import Action
from msp.policy.facts import SenderStatus
from msp.policy.models import PolicyChange, PolicyTimelineEntry
from msp.policy.stages import Stage
from tests.factories import make_domain, make_tenant

from .builders import sender
from .evidence import StaticEvidence
from .integration import make_ready, plan_of, published, put_at_stage

WED_0500 = datetime(2026, 6, 10, 5, 0, tzinfo=UTC)  # 07:00 in Berlin, before the window


def _events(domain_id: int) -> list[str]:
    rows = db.session.scalars(select(Event).where(Event.domain_id == domain_id).order_by(Event.id))
    return [e.kind for e in rows]


def _timeline(domain_id: int) -> list[str]:
    rows = db.session.scalars(
        select(PolicyTimelineEntry)
        .where(PolicyTimelineEntry.domain_id == domain_id)
        .order_by(PolicyTimelineEntry.id)
    )
    return [e.kind for e in rows]


def test_a_new_domain_without_a_record_is_proposed_monitoring(
    db_session: Any, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant())
    result = service.evaluate_domain(domain.id, WED_0500)
    assert result is not None and result.action is Action.PROPOSE
    change = db.session.scalars(select(PolicyChange)).one()
    assert (change.from_stage, change.to_stage, change.status) == ("none", "monitor", "proposed")
    assert change.records[0]["value"].startswith("v=DMARC1; p=none; sp=none; np=none;")
    assert _timeline(domain.id) == ["evaluated", "proposed"]
    assert _events(domain.id) == ["policy.evaluated", "policy.proposed"]


def test_a_domain_joining_with_a_record_starts_at_the_stage_it_already_has(
    db_session: Any, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant())
    evidence.default_posture = None
    result = service.evaluate_domain(domain.id, WED_0500)
    assert result is not None and result.action is Action.HOLD  # not checked yet: no proposal
    evidence.postures[domain.id] = published(domain, Stage.REJECT, WED_0500)
    assert service.plan_view(domain, WED_0500).evaluation.stage is Stage.REJECT
    assert _timeline(domain.id) == ["evaluated"]  # a read shows the adoption, writes nothing
    service.evaluate_domain(domain.id, WED_0500, force=True)
    # adopted at reject, and (no report in the window) its rollback watch is blind: drift
    assert _timeline(domain.id) == ["evaluated", "adopted", "evaluated", "drift"]
    assert "policy.adopted" in _events(domain.id)


def test_evaluating_twice_the_same_day_does_it_once(
    db_session: Any, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant())
    assert service.evaluate_domain(domain.id, WED_0500) is not None
    assert service.evaluate_domain(domain.id, WED_0500 + timedelta(hours=3)) is None
    assert _timeline(domain.id) == ["evaluated", "proposed"]


def test_approved_change_is_issued_in_the_tenant_window_then_verified(
    db_session: Any, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant(timezone="Europe/Berlin"))
    make_ready(evidence, domain, Stage.MONITOR, WED_0500)
    put_at_stage(domain, Stage.MONITOR, WED_0500 - timedelta(days=20), evidence)
    service.evaluate_domain(domain.id, WED_0500)
    change = db.session.scalars(select(PolicyChange)).one()
    service.approve(change, WED_0500)
    assert change.status == "scheduled"
    assert change.scheduled_for == datetime(2026, 6, 10, 8, 0, tzinfo=UTC)  # 10:00 Berlin
    assert service.advance_change(change.id, WED_0500 + timedelta(hours=1)) == "wait"
    assert service.advance_change(change.id, WED_0500 + timedelta(hours=3)) == "published"
    assert service.advance_change(change.id, WED_0500 + timedelta(hours=4)) == "wait"
    checked = WED_0500 + timedelta(hours=5)
    evidence.postures[domain.id] = published(domain, Stage.QUARANTINE_TEST, checked)
    assert service.advance_change(change.id, checked + timedelta(minutes=10)) == "verified"
    plan = plan_of(domain)
    assert (plan.stage, plan.stage_since) == ("quarantine_test", checked + timedelta(minutes=10))
    assert _events(domain.id)[-4:] == [
        "policy.approved",
        "policy.scheduled",
        "policy.published",
        "policy.verified",
    ]
    issued = db.session.scalars(
        select(Event).where(Event.kind == "policy.published", Event.domain_id == domain.id)
    ).one()
    assert "t=y" in issued.payload["records"][0]["value"]


def test_a_record_not_published_in_time_raises_one_reminder_a_day(
    db_session: Any, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant())
    service.evaluate_domain(domain.id, WED_0500)
    change = db.session.scalars(select(PolicyChange)).one()
    service.approve(change, WED_0500)
    at = change.scheduled_for
    assert at is not None
    assert service.advance_change(change.id, at) == "published"
    evidence.postures[domain.id] = published(domain, Stage.NONE, at + timedelta(hours=1))
    assert service.advance_change(change.id, at + timedelta(hours=47)) == "wait"
    assert service.advance_change(change.id, at + timedelta(hours=49)) == "reminder"
    assert service.advance_change(change.id, at + timedelta(hours=50)) == "wait"
    assert service.advance_change(change.id, at + timedelta(hours=74)) == "reminder"
    reminder = db.session.scalars(select(Event).where(Event.kind == "policy.reminder")).first()
    assert reminder is not None and reminder.severity == "warning"
    assert reminder.payload["reasons"] == ["no DMARC record is published"]


def test_auto_escalation_schedules_without_approval(
    db_session: Any, evidence: StaticEvidence
) -> None:
    tenant = make_tenant(settings={"policy": {"auto_escalate": True}})
    domain = make_domain(tenant)
    service.evaluate_domain(domain.id, WED_0500)
    change = db.session.scalars(select(PolicyChange)).one()
    assert (change.status, change.decided_by, change.auto) == (
        "scheduled",
        "auto-escalation",
        True,
    )


def test_a_shadow_sender_appearing_before_issue_withdraws_the_escalation(
    db_session: Any, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant())
    make_ready(evidence, domain, Stage.MONITOR, WED_0500)
    put_at_stage(domain, Stage.MONITOR, WED_0500 - timedelta(days=20), evidence)
    service.evaluate_domain(domain.id, WED_0500)
    change = db.session.scalars(select(PolicyChange)).one()
    service.approve(change, WED_0500)
    shadow = sender("shadow-crm", SenderStatus.UNKNOWN, 600, 0, first_seen_days_ago=1)
    evidence.senders_by_domain[domain.id] += (shadow,)
    assert change.scheduled_for is not None
    assert service.advance_change(change.id, change.scheduled_for) == "withdrawn"
    assert change.status == "withdrawn" and change.closed_at is not None
    assert "shadow-crm" in _last_summary(domain.id)


def _last_summary(domain_id: int) -> str:
    entry = db.session.scalars(
        select(PolicyTimelineEntry)
        .where(PolicyTimelineEntry.domain_id == domain_id)
        .order_by(PolicyTimelineEntry.id.desc())
    ).first()
    assert entry is not None
    return entry.summary


def test_a_known_sender_breaking_after_escalation_proposes_a_rollback_with_evidence(
    db_session: Any, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant())
    make_ready(evidence, domain, Stage.QUARANTINE, WED_0500)
    put_at_stage(domain, Stage.QUARANTINE, WED_0500 - timedelta(days=3), evidence)
    evidence.recent_by_domain[domain.id] = (sender(messages=300, passing=30),)
    result = service.evaluate_domain(domain.id, WED_0500)
    assert result is not None and result.action is Action.ROLLBACK
    change = db.session.scalars(select(PolicyChange)).one()
    assert (change.kind, change.to_stage, change.status) == ("rollback", "monitor", "proposed")
    assert "dropped to 10.0%" in change.evidence["reasons"][0]
    assert "policy.rollback_proposed" in _events(domain.id)
    service.approve(change, WED_0500)
    assert change.scheduled_for == WED_0500  # a rollback is not held for the window


def test_proposing_a_blocked_domain_by_hand_is_a_conflict_naming_the_gates(
    db_session: Any, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant())
    make_ready(evidence, domain, Stage.MONITOR, WED_0500)
    put_at_stage(domain, Stage.MONITOR, WED_0500 - timedelta(days=2), evidence)
    with pytest.raises(Conflict) as caught:
        service.propose(domain, WED_0500)
    assert caught.value.errors == {"gates": ["2 of 14 days in monitor"]}


def test_a_simulation_refuses_a_malformed_record(db_session: Any, evidence: StaticEvidence) -> None:
    domain = make_domain(make_tenant())
    with pytest.raises(ValidationFailed):
        service.simulate_domain(domain, "v=DMARC1; p=maybe", 30, WED_0500)


def test_tenant_readiness_averages_its_domains(db_session: Any, evidence: StaticEvidence) -> None:
    tenant = make_tenant()
    ready, fresh = make_domain(tenant), make_domain(tenant)
    make_ready(evidence, ready, Stage.MONITOR, WED_0500)
    put_at_stage(ready, Stage.MONITOR, WED_0500 - timedelta(days=20), evidence)
    put_at_stage(fresh, Stage.MONITOR, WED_0500, evidence)
    service.evaluate_domain(ready.id, WED_0500)
    service.evaluate_domain(fresh.id, WED_0500)
    summary = service.tenant_readiness(tenant)
    assert summary["domains"] == 2 and summary["stages"] == {"monitor": 2}
    assert summary["readiness"] == round((100 + plan_of(fresh).readiness) / 2)
    assert plan_of(fresh).readiness < 100


def test_a_parked_domain_is_proposed_the_fast_path_with_its_three_records(
    db_session: Any, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant(), parked=True)
    service.evaluate_domain(domain.id, WED_0500)
    change = db.session.scalars(select(PolicyChange)).one()
    assert change.to_stage == "parked"
    assert [(r["name"], r["type"]) for r in change.records] == [
        (f"_dmarc.{domain.name}", "TXT"),
        (domain.name, "TXT"),
        (domain.name, "MX"),
    ]
    assert [r["value"] for r in change.records[1:]] == ["v=spf1 -all", "0 ."]
    service.approve(change, WED_0500)
    assert change.scheduled_for is not None
    assert service.advance_change(change.id, change.scheduled_for) == "published"
    checked = change.scheduled_for + timedelta(hours=1)
    evidence.postures[domain.id] = published(domain, Stage.PARKED, checked)
    assert service.advance_change(change.id, checked) == "verified"
    assert plan_of(domain).stage == "parked"


def test_withdrawing_an_issued_record_tells_the_customer_what_to_keep(
    db_session: Any, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant())
    make_ready(evidence, domain, Stage.MONITOR, WED_0500)
    put_at_stage(domain, Stage.MONITOR, WED_0500 - timedelta(days=20), evidence)
    service.evaluate_domain(domain.id, WED_0500)
    change = db.session.scalars(select(PolicyChange)).one()
    service.approve(change, WED_0500)
    assert change.scheduled_for is not None
    assert service.advance_change(change.id, change.scheduled_for) == "published"
    shadow = sender("shadow-crm", SenderStatus.UNKNOWN, 600, 0, first_seen_days_ago=1)
    evidence.senders_by_domain[domain.id] += (shadow,)
    result = service.evaluate_domain(domain.id, WED_0500 + timedelta(days=1))
    assert result is not None and result.action is Action.WITHDRAW
    assert change.status == "withdrawn"
    event = db.session.scalars(
        select(Event).where(Event.kind == "policy.withdrawn", Event.domain_id == domain.id)
    ).one()
    assert event.severity == "warning"
    assert event.payload["keep_records"][0]["value"].startswith("v=DMARC1; p=none;")


def test_the_what_if_names_senders_as_the_plan_does_over_the_gates_window(
    db_session: Any, evidence: StaticEvidence
) -> None:
    from dataclasses import replace

    from msp.policy.simulate import DailyRow

    domain = make_domain(make_tenant())
    crm = replace(sender("crm-key", SenderStatus.UNKNOWN, 40, 0), name="CRM Inc")
    evidence.senders_by_domain[domain.id] = (crm,)
    day = WED_0500.date() - timedelta(days=3)
    old = WED_0500.date() - timedelta(days=20)  # outside the 14-day window the gates read
    evidence.rows[domain.id] = [
        DailyRow(d, "crm-key", SenderStatus.UNKNOWN, domain.name, "none", False, False, 40)
        for d in (day, old)
    ]
    put_at_stage(domain, Stage.MONITOR, WED_0500 - timedelta(days=30), evidence)
    result = service.simulate_domain(domain, "v=DMARC1; p=reject", now=WED_0500)
    assert result["days"] == 1  # the default is the gates' window, not 30 days
    assert [s["name"] for s in result["senders"]] == ["CRM Inc"]
    gates = service.plan_view(domain, WED_0500).evaluation.gates
    assert any("CRM Inc" in r for g in gates for r in g.reasons)


def test_a_lasting_drift_is_announced_once_not_at_every_evaluation(
    db_session: Any, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant())
    evidence.postures[domain.id] = published(domain, Stage.REJECT, WED_0500)  # no reports: blind
    for day in range(3):
        service.evaluate_domain(domain.id, WED_0500 + timedelta(days=day), force=True)
    assert _timeline(domain.id).count("drift") == 1
    assert _timeline(domain.id).count("evaluated") == 3
