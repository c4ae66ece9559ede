"""The whole loop on real servers: the engine proposes, a person approves, policy issues the
change at its window, the publisher writes it through RFC 2136 into knot, the DNS checker
reads knot, and only then does policy verify and move the stage."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import dns.resolver
from sqlalchemy import select

from msp.auth.models import AuditLog
from msp.db import utcnow
from msp.events import Event
from msp.extensions import db
from msp.policy import service as policy
from msp.policy.models import PolicyChange, PolicyPlan, PolicyTimelineEntry
from msp.policy.stages import Stage
from msp.publishing import service
from msp.publishing.models import Publication
from tests.policy.builders import sender
from tests.policy.integration import make_ready, put_at_stage
from tests.publishing.conftest import (
    DOMAIN,
    NOTE,
    SPF,
    VERIFICATION,
    DnsEvidence,
    check_now,
    wire,
)
from tests.publishing.servers import TsigKnot

ROAD = [Stage.MONITOR, Stage.QUARANTINE_TEST, Stage.QUARANTINE, Stage.REJECT_TEST, Stage.REJECT]


def txt_at(knot: TsigKnot, name: str) -> set[str]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = ["127.0.0.1"], knot.port
    try:
        answer = resolver.resolve(name, "TXT")
    except dns.resolver.NoAnswer:
        return set()
    return {b"".join(r.strings).decode() for r in answer}


def stage_of(domain_id: int) -> str:
    plan = db.session.scalar(select(PolicyPlan).where(PolicyPlan.domain_id == domain_id))
    assert plan is not None
    return plan.stage


def issue(domain_id: int, at: datetime) -> PolicyChange:
    """Evaluate, approve (as a person), and issue the next change now."""
    policy.evaluate_domain(domain_id, at, force=True)
    change = db.session.scalars(
        select(PolicyChange).where(
            PolicyChange.domain_id == domain_id, PolicyChange.status == "proposed"
        )
    ).one()
    policy.approve(change, at)
    policy.schedule(change, at, at)
    assert policy.advance_change(change.id, at) == "published"
    return change


def test_a_fresh_domain_climbs_the_road_each_stage_written_by_the_provider_and_verified(
    db_session: Any, knot: TsigKnot, evidence: DnsEvidence
) -> None:
    wired = wire(knot.options())
    domain = wired.domain
    at = utcnow()
    check_now(knot.nameserver, domain.id, at - timedelta(minutes=5))
    for step, target in enumerate(ROAD):
        if step:
            make_ready(evidence, domain, Stage(stage_of(domain.id)), at)
            put_at_stage(domain, Stage(stage_of(domain.id)), at - timedelta(days=60), evidence)
        change = issue(domain.id, at)
        assert change.to_stage == target.value
        before = txt_at(knot, f"_dmarc.{DOMAIN}")
        # issued but not yet written: the stage does not move on an old check
        assert policy.advance_change(change.id, at + timedelta(minutes=1)) in {"wait", "reminder"}
        assert service.publish_change(change.id, at + timedelta(minutes=1)) == "written"
        after = txt_at(knot, f"_dmarc.{DOMAIN}")
        assert after - before == {change.records[0]["value"]}
        assert NOTE in after and len([v for v in after if v.startswith("v=DMARC1")]) == 1
        assert stage_of(domain.id) == change.from_stage  # written is not verified
        check_now(knot.nameserver, domain.id, at + timedelta(minutes=2))
        assert policy.advance_change(change.id, at + timedelta(minutes=3)) == "verified"
        assert stage_of(domain.id) == target.value
        at += timedelta(days=1)
    assert txt_at(knot, DOMAIN) == {SPF, VERIFICATION}  # the apex was never touched
    publications = db.session.scalars(select(Publication).order_by(Publication.id)).all()
    assert [p.status for p in publications] == ["written"] * len(ROAD)
    first = publications[0].records[0]
    assert (first["before"], first["rrset_before"]) == ([], [NOTE])
    assert publications[-1].approved_by and publications[-1].provider.startswith("rfc2136-")
    audited = db.session.scalars(select(AuditLog).where(AuditLog.action == "dns.publish")).all()
    assert len(audited) == len(ROAD)
    kinds = db.session.scalars(
        select(PolicyTimelineEntry.kind).where(PolicyTimelineEntry.domain_id == domain.id)
    ).all()
    assert kinds.count("dns_written") == len(ROAD)
    events = db.session.scalars(select(Event.kind).where(Event.domain_id == domain.id)).all()
    assert events.count("publishing.written") == len(ROAD)


def test_a_hand_edit_between_check_and_publish_blocks_the_write(
    db_session: Any, knot: TsigKnot, evidence: DnsEvidence
) -> None:
    wired = wire(knot.options())
    at = utcnow()
    check_now(knot.nameserver, wired.domain.id, at - timedelta(minutes=5))
    change = issue(wired.domain.id, at)
    # someone publishes their own DMARC record by hand after the check
    knot_edit = "v=DMARC1; p=none; rua=mailto:someone@elsewhere.test"
    _update_by_hand(knot, f"_dmarc.{DOMAIN}", knot_edit)
    assert service.publish_change(change.id, at) == "held"
    assert txt_at(knot, f"_dmarc.{DOMAIN}") == {NOTE, knot_edit}  # nothing written
    publication = db.session.scalars(select(Publication)).one()
    assert publication.status == "held" and knot_edit in (publication.error or "")
    event = db.session.scalars(select(Event).where(Event.kind == "publishing.held")).one()
    assert event.severity == "warning" and knot_edit in event.payload["summary"]
    assert service.publish_change(change.id, at) == "held"  # safe to run twice
    assert stage_of(wired.domain.id) == "none"
    from flask import current_app

    from msp.publishing import cli

    runner = current_app.test_cli_runner()
    dry = runner.invoke(cli.publish, [DOMAIN, "--dry-run"])
    assert "engine expected" in dry.output and knot_edit in dry.output
    forced = runner.invoke(cli.publish, [DOMAIN])  # a person asks: still not over a hand edit
    assert forced.exit_code == 1 and "held" in forced.output
    assert txt_at(knot, f"_dmarc.{DOMAIN}") == {NOTE, knot_edit}


def _update_by_hand(knot: TsigKnot, name: str, value: str) -> None:
    from msp.publishing.providers import Account, RRset, get_provider

    provider = get_provider("rfc2136")
    plain, secret = provider.split(knot.options())
    account = Account(plain, secret, DOMAIN, 2)
    current = provider.read(account, name, "TXT")
    provider.write(account, current, RRset(name, "TXT", 300, (*current.values, value)))


def test_manual_mode_writes_nothing_until_a_person_publishes(
    db_session: Any, knot: TsigKnot, evidence: DnsEvidence
) -> None:
    wired = wire(knot.options(), mode="manual")
    at = utcnow()
    check_now(knot.nameserver, wired.domain.id, at - timedelta(minutes=5))
    change = issue(wired.domain.id, at)
    assert service.publish_change(change.id, at) == "manual"
    assert service.due_change_ids(at) == [change.id]
    assert txt_at(knot, f"_dmarc.{DOMAIN}") == {NOTE}
    assert service.publish_domain(wired.domain, at)["outcome"] == "written"  # a person asks
    assert service.due_change_ids(at) == []
    check_now(knot.nameserver, wired.domain.id, at + timedelta(minutes=1))
    assert policy.advance_change(change.id, at + timedelta(minutes=2)) == "verified"
    assert stage_of(wired.domain.id) == "monitor"


def test_a_rollback_is_published_at_once_through_the_same_path(
    db_session: Any, knot: TsigKnot, evidence: DnsEvidence
) -> None:
    enforcing = "v=DMARC1; p=quarantine; sp=quarantine; rua=mailto:d@pub-e2e.test"
    _update_by_hand(knot, f"_dmarc.{DOMAIN}", enforcing)
    wired = wire(knot.options())
    domain = wired.domain
    at = utcnow()
    check_now(knot.nameserver, domain.id, at - timedelta(minutes=5))
    make_ready(evidence, domain, Stage.QUARANTINE, at)
    put_at_stage(domain, Stage.QUARANTINE, at - timedelta(days=3), evidence)
    assert stage_of(domain.id) == "quarantine"  # adopted from the published record
    evidence.recent_by_domain[domain.id] = (sender(messages=300, passing=30),)
    policy.evaluate_domain(domain.id, at, force=True)
    change = db.session.scalars(select(PolicyChange)).one()
    assert (change.kind, change.to_stage) == ("rollback", "monitor")
    policy.approve(change, at)
    assert policy.advance_change(change.id, at) == "published"  # no change window
    assert service.due_change_ids(at) == [change.id]
    assert service.publish_change(change.id, at) == "written"
    assert txt_at(knot, f"_dmarc.{DOMAIN}") == {NOTE, change.records[0]["value"]}
    check_now(knot.nameserver, domain.id, at + timedelta(minutes=1))
    assert policy.advance_change(change.id, at + timedelta(minutes=2)) == "verified"
    assert stage_of(domain.id) == "monitor"
    publication = db.session.scalars(select(Publication)).one()
    assert publication.records[0]["before"] == [enforcing]


def test_the_parked_fast_path_writes_spf_and_null_mx_and_keeps_other_apex_txt(
    db_session: Any, knot: TsigKnot, evidence: DnsEvidence
) -> None:
    wired = wire(knot.options(), parked=True)
    at = utcnow()
    check_now(knot.nameserver, wired.domain.id, at - timedelta(minutes=5))
    change = issue(wired.domain.id, at)
    assert change.to_stage == "parked"
    assert service.publish_change(change.id, at) == "written"
    assert txt_at(knot, DOMAIN) == {"v=spf1 -all", VERIFICATION}
    assert mx_at(knot, DOMAIN) == {"0 ."}
    assert NOTE in txt_at(knot, f"_dmarc.{DOMAIN}")
    check_now(knot.nameserver, wired.domain.id, at + timedelta(minutes=1))
    assert policy.advance_change(change.id, at + timedelta(minutes=2)) == "verified"
    assert stage_of(wired.domain.id) == "parked"


def mx_at(knot: TsigKnot, name: str) -> set[str]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = ["127.0.0.1"], knot.port
    return {r.to_text() for r in resolver.resolve(name, "MX")}
