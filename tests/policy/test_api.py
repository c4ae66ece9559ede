"""The policy API: plan, simulate, escalations with decisions by role, timeline, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.models import AuditLog
from msp.db import utcnow
from msp.extensions import db
from msp.policy import service
from msp.policy.facts import SenderStatus
from msp.policy.models import PolicyChange, PolicyPlan
from msp.policy.simulate import DailyRow
from msp.policy.stages import Stage
from tests.factories import make_domain, make_tenant, token_caller

from .evidence import StaticEvidence
from .integration import make_ready, put_at_stage

API = "/api/v1"


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def test_plan_shows_stage_record_next_stage_gates_and_readiness(
    client: FlaskClient, evidence: StaticEvidence
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    now = utcnow()
    make_ready(evidence, domain, Stage.MONITOR, now)
    put_at_stage(domain, Stage.MONITOR, now - timedelta(days=3), evidence)
    viewer = token_caller("tenant_viewer", tenant)
    body = _ok(client.get(f"{API}/domains/{domain.id}/plan", headers=viewer.headers))
    assert body["stage"] == "monitor" and body["next_stage"] == "quarantine_test"
    assert body["record"].startswith("v=DMARC1; p=none; sp=none; np=none;")
    assert "t=y" in body["next_record"]
    soak = next(g for g in body["gates"] if g["gate"] == "soak")
    assert (soak["status"], soak["reason"]) == ("blocked", "3 of 14 days in monitor")
    assert body["readiness"] == 89 and body["action"] == "hold"


def test_viewer_cannot_propose_or_approve_but_tenant_admin_can(
    client: FlaskClient, evidence: StaticEvidence
) -> None:
    tenant = make_tenant(timezone="Europe/Berlin")
    domain = make_domain(tenant)
    viewer, admin = token_caller("tenant_viewer", tenant), token_caller("tenant_admin", tenant)
    r = client.post(f"{API}/domains/{domain.id}/escalations", headers=viewer.headers)
    assert r.status_code == 403
    change = _ok(client.post(f"{API}/domains/{domain.id}/escalations", headers=admin.headers), 201)
    assert (change["to_stage"], change["status"]) == ("monitor", "proposed")
    r = client.post(f"{API}/escalations/{change['id']}/approve", headers=viewer.headers)
    assert r.status_code == 403
    approved = _ok(client.post(f"{API}/escalations/{change['id']}/approve", headers=admin.headers))
    assert approved["status"] == "scheduled" and approved["decided_by"]
    actions = db.session.scalars(
        select(AuditLog.action).where(AuditLog.object_id == str(change["id"]))
    ).all()
    assert {"policy.propose", "policy.approve"} <= set(actions)


def test_another_tenants_escalation_is_not_found(
    client: FlaskClient, evidence: StaticEvidence
) -> None:
    mine, theirs = make_tenant(), make_tenant()
    domain = make_domain(theirs)
    msp = token_caller("msp_staff")
    change = _ok(client.post(f"{API}/domains/{domain.id}/escalations", headers=msp.headers), 201)
    outsider = token_caller("tenant_admin", mine)
    for path in (f"/escalations/{change['id']}/approve", f"/escalations/{change['id']}/reject"):
        assert client.post(API + path, json={}, headers=outsider.headers).status_code == 404
    assert (
        client.get(f"{API}/domains/{domain.id}/plan", headers=outsider.headers).status_code == 404
    )


def test_reject_and_schedule_follow_the_change_life_cycle(
    client: FlaskClient, evidence: StaticEvidence
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    msp = token_caller("msp_admin")
    change = _ok(client.post(f"{API}/domains/{domain.id}/escalations", headers=msp.headers), 201)
    at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    r = client.post(
        f"{API}/escalations/{change['id']}/schedule",
        json={"at": at.isoformat()},
        headers=msp.headers,
    )
    assert r.status_code == 409  # approve first
    _ok(client.post(f"{API}/escalations/{change['id']}/approve", headers=msp.headers))
    moved = _ok(
        client.post(
            f"{API}/escalations/{change['id']}/schedule",
            json={"at": at.isoformat()},
            headers=msp.headers,
        )
    )
    assert datetime.fromisoformat(moved["scheduled_for"]) == at
    rejected = _ok(
        client.post(
            f"{API}/escalations/{change['id']}/reject", json={"note": "freeze"}, headers=msp.headers
        )
    )
    assert (rejected["status"], rejected["note"]) == ("rejected", "freeze")
    listed = _ok(client.get(f"{API}/domains/{domain.id}/escalations", headers=msp.headers))
    assert [c["status"] for c in listed] == ["rejected"]
    kinds = [
        e["kind"]
        for e in _ok(client.get(f"{API}/domains/{domain.id}/timeline", headers=msp.headers))
    ]
    assert kinds == ["rejected", "scheduled", "scheduled", "approved", "proposed"]


def test_proposing_a_domain_that_is_not_ready_is_a_conflict(
    client: FlaskClient, evidence: StaticEvidence
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    put_at_stage(domain, Stage.MONITOR, utcnow(), evidence)
    r = client.post(
        f"{API}/domains/{domain.id}/escalations", headers=token_caller("msp_admin").headers
    )
    body = _ok(r, 409)
    assert "0 of 14 days in monitor" in body["errors"]["gates"]


def test_simulate_splits_approved_and_unknown_senders(
    client: FlaskClient, evidence: StaticEvidence
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    yesterday = utcnow().date() - timedelta(days=1)
    evidence.rows[domain.id] = [
        DailyRow(yesterday, "crm", SenderStatus.APPROVED, domain.name, "none", False, False, 40),
        DailyRow(yesterday, "gw", SenderStatus.APPROVED, domain.name, "none", True, True, 900),
        DailyRow(yesterday, "x", SenderStatus.UNKNOWN, domain.name, "none", False, False, 300),
    ]
    viewer = token_caller("tenant_viewer", tenant)
    body = _ok(
        client.post(
            f"{API}/domains/{domain.id}/simulate",
            json={"record": "v=DMARC1; p=reject; t=y", "days": 7},
            headers=viewer.headers,
        )
    )
    assert body["totals"]["approved"] == {"quarantined": 0, "rejected": 40}  # worst view
    crm = next(s for s in body["senders"] if s["sender"] == "crm")
    assert crm["rfc9989"] == {"quarantined": 40, "rejected": 0}
    assert crm["rfc7489"] == {"quarantined": 0, "rejected": 40}
    assert body["totals"]["unknown"] == {"quarantined": 0, "rejected": 300}
    r = client.post(
        f"{API}/domains/{domain.id}/simulate",
        json={"record": "v=DMARC1; p=block"},
        headers=viewer.headers,
    )
    assert r.status_code == 422


def test_policy_settings_are_validated_and_stored(
    client: FlaskClient, evidence: StaticEvidence
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    admin = token_caller("tenant_admin", tenant)
    r = client.put(
        f"{API}/tenants/{tenant.id}/policy-settings",
        json={"policy": {"min_reporters": -1, "colour": "red"}},
        headers=admin.headers,
    )
    body = _ok(r, 422)
    assert set(body["errors"]) == {"min_reporters", "colour"}
    _ok(
        client.put(
            f"{API}/domains/{domain.id}/policy-settings",
            json={"policy": {"soak_days": {"monitor": 30}}},
            headers=admin.headers,
        )
    )
    put_at_stage(domain, Stage.MONITOR, utcnow(), evidence)
    plan = _ok(client.get(f"{API}/domains/{domain.id}/plan", headers=admin.headers))
    soak = next(g for g in plan["gates"] if g["gate"] == "soak")
    assert soak["reason"] == "0 of 30 days in monitor"
    viewer = token_caller("tenant_viewer", tenant)
    r = client.put(
        f"{API}/domains/{domain.id}/policy-settings", json={"policy": {}}, headers=viewer.headers
    )
    assert r.status_code == 403


def test_tenant_readiness_endpoint_reports_the_evaluated_domains(
    client: FlaskClient, evidence: StaticEvidence
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    service.evaluate_domain(domain.id)
    headers = token_caller("tenant_viewer", tenant).headers
    body = _ok(client.get(f"{API}/tenants/{tenant.id}/readiness", headers=headers))
    # nothing published and no reports: only SPF is ready for enforcement (1 of 8), never
    # the 100 the single gate to monitoring would give (issue 10)
    assert body == {
        "tenant_id": tenant.id,
        "domains": 1,
        "readiness": 12,
        "stages": {"none": 1},
    }


def test_anonymous_requests_with_a_bad_body_get_401_not_field_errors(
    client: FlaskClient, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant())
    for url in (
        f"{API}/domains/{domain.id}/simulate",
        f"{API}/escalations/1/reject",
        f"{API}/escalations/1/schedule",
        f"{API}/tenants/{domain.tenant_id}/policy-settings",
        f"{API}/domains/{domain.id}/policy-settings",
    ):
        method = client.put if url.endswith("policy-settings") else client.post
        response = method(url, json={"record": 5, "days": "x", "at": [], "policy": 1})
        assert response.status_code == 401, (url, response.get_data(as_text=True))


def test_evaluate_and_rollback_by_hand_through_the_api(
    client: FlaskClient, evidence: StaticEvidence
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    admin = token_caller("tenant_admin", tenant)
    viewer = token_caller("tenant_viewer", tenant)
    url = f"{API}/domains/{domain.id}"
    assert client.post(f"{url}/evaluate", headers=viewer.headers).status_code == 403
    body = _ok(client.post(f"{url}/evaluate", headers=admin.headers))
    assert body["open_change_id"] is not None and body["target"] == "monitor"
    now = utcnow()
    make_ready(evidence, domain, Stage.QUARANTINE, now)
    service.reject(db.session.get(PolicyChange, body["open_change_id"]), "not now")
    put_at_stage(domain, Stage.QUARANTINE, now - timedelta(days=3), evidence)
    r = client.post(f"{url}/rollback", json={"reason": "invoices bounce"}, headers=admin.headers)
    change = _ok(r, 201)
    assert (change["kind"], change["to_stage"]) == ("rollback", "monitor")
    assert "invoices bounce" in change["evidence"]["reasons"][0]


def test_reading_a_plan_writes_nothing(client: FlaskClient, evidence: StaticEvidence) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    viewer = token_caller("tenant_viewer", tenant)
    _ok(client.get(f"{API}/domains/{domain.id}/plan", headers=viewer.headers))
    assert db.session.scalars(select(PolicyPlan)).first() is None


def test_the_plan_shows_drift_forwarded_mail_and_unreachable_dns(
    client: FlaskClient, evidence: StaticEvidence
) -> None:
    from dataclasses import replace

    tenant = make_tenant()
    domain = make_domain(tenant)
    now = utcnow()
    make_ready(evidence, domain, Stage.REJECT, now)
    put_at_stage(domain, Stage.REJECT, now - timedelta(days=3), evidence)
    posture = evidence.postures[domain.id]
    tags = {k: v for k, v in (posture.dmarc_tags or {}).items() if k != "rua"}
    evidence.postures[domain.id] = replace(posture, dmarc_tags=tags)
    viewer = token_caller("tenant_viewer", tenant)
    body = _ok(client.get(f"{API}/domains/{domain.id}/plan", headers=viewer.headers))
    assert "rollback watch is blind" in body["drift"]["reasons"][0]
    assert body["drift"]["fix"][0]["name"] == f"_dmarc.{domain.name}"
    assert body["dns_unreachable"] == [] and body["forwarded"] is None
