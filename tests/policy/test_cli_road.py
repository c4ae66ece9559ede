"""The operator at the wheel: a domain driven from none to p=reject and rolled back by hand,
purely through ``msp evaluate``, ``msp escalations`` and ``msp plan`` (click's runner). The DNS
checker and the reports are the policy tests' stand-in evidence; the database is real."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import click
from flask import Flask

from msp.db import utcnow
from msp.policy.cli import escalations, evaluate, plan, senders
from msp.policy.stages import Stage
from msp.reports import service as reports
from tests.factories import make_domain, make_tenant

from .builders import NOW
from .evidence import StaticEvidence
from .integration import make_ready, published
from .test_end_to_end import DOMAIN, aggregate

ROAD = (Stage.MONITOR, Stage.QUARANTINE_TEST, Stage.QUARANTINE, Stage.REJECT_TEST, Stage.REJECT)
SOAK = {Stage.MONITOR: 14, Stage.QUARANTINE_TEST: 7, Stage.QUARANTINE: 14, Stage.REJECT_TEST: 7}


def run(app: Flask, command: click.Command, *args: str) -> Any:
    result = app.test_cli_runner().invoke(command, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def step(app: Flask, evidence: StaticEvidence, domain: Any, to: Stage, at: datetime) -> int:
    """One stage change through the commands: evaluate proposes, approve, schedule, issue, the
    customer publishes, the next check verifies."""
    t = at.isoformat()
    run(app, evaluate, domain.name, "--at", t)
    (change,) = run(app, escalations, "list", domain.name, "--open")
    assert (change["to_stage"], change["status"]) == (to.value, "proposed")
    run(app, escalations, "approve", str(change["id"]), "--at", t)
    run(app, escalations, "schedule", str(change["id"]), t, "--at", t)
    assert run(app, escalations, "advance", str(change["id"]), "--at", t)["status"] == "published"
    evidence.postures[domain.id] = published(domain, to, at + timedelta(minutes=30))
    later = (at + timedelta(minutes=31)).isoformat()
    assert run(app, escalations, "advance", str(change["id"]), "--at", later)["status"] == (
        "verified"
    )
    return int(change["id"])


def test_none_to_reject_and_a_rollback_purely_through_the_commands(
    app: Flask, db_session: Any, evidence: StaticEvidence
) -> None:
    domain = make_domain(make_tenant())
    make_ready(evidence, domain, Stage.NONE, NOW)
    at = NOW
    for stage in ROAD:
        step(app, evidence, domain, stage, at)
        at += timedelta(days=SOAK.get(stage, 0) + 1)
    view = run(app, plan, domain.name, "--at", at.isoformat())
    assert (view["stage"], view["next_stage"], view["readiness"]) == ("reject", None, 100)

    t = at.isoformat()
    back = run(app, escalations, "rollback", domain.name, "--reason", "invoices bounce", "--at", t)
    assert (back["kind"], back["to_stage"]) == ("rollback", "monitor")
    assert back["proposed_by"].startswith("cli:")  # the operator, not "engine"
    run(app, escalations, "approve", str(back["id"]), "--at", t)  # a rollback: scheduled at once
    assert run(app, escalations, "advance", str(back["id"]), "--at", t)["status"] == "published"
    evidence.postures[domain.id] = published(domain, Stage.MONITOR, at + timedelta(minutes=5))
    later = (at + timedelta(minutes=6)).isoformat()
    assert run(app, escalations, "advance", str(back["id"]), "--at", later)["status"] == "verified"
    assert run(app, plan, domain.name, "--at", later)["stage"] == "monitor"
    history = run(app, escalations, "list", domain.name)
    assert [c["to_stage"] for c in history][:2] == ["monitor", "reject"]


def test_plan_and_evaluate_take_several_domains_or_a_tenant(
    app: Flask, db_session: Any, evidence: StaticEvidence
) -> None:
    tenant = make_tenant()
    first, second = make_domain(tenant), make_domain(tenant)
    views = run(app, plan, "--tenant", tenant.slug)
    assert sorted(v["domain"] for v in views) == sorted([first.name, second.name])
    dry = run(app, evaluate, first.name, second.name, "--dry-run")
    assert len(dry) == 2
    assert run(app, escalations, "list", "--tenant", tenant.slug) == []  # nothing was written


def test_senders_are_listed_and_marked_through_the_reports_service(
    app: Flask, db_session: Any
) -> None:
    domain = make_domain(make_tenant(), DOMAIN)
    now = utcnow()
    yesterday = datetime.combine(now.date() - timedelta(days=1), datetime.min.time(), now.tzinfo)
    raw = reports.receive(
        aggregate(yesterday), source="upload", filename="r.xml", tenant_id=domain.tenant_id
    )
    reports.process_raw(raw.id)
    listed = {s["key"]: s for s in run(app, senders, "list", domain.name)}
    key = next(k for k in listed if "203.0.113.5" in k)
    assert listed[key]["status"] == "unknown"
    marked = app.test_cli_runner().invoke(
        senders, ["mark", domain.name, key, "forwarder", "--note", "list server"]
    )
    assert marked.exit_code == 0, marked.output
    assert {s["key"]: s for s in run(app, senders, "list", domain.name)}[key]["status"] == (
        "forwarder"
    )
    refused = app.test_cli_runner().invoke(senders, ["mark", domain.name, "x" * 300, "approve"])
    assert refused.exit_code == 1 and "Error:" in refused.output
