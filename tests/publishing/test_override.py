"""Publishing over a hand edit only when asked explicitly (``msp publish DOMAIN --force``, API
``force: true``), only by an administrator, and audited with every value before and after."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.models import AuditLog
from msp.db import utcnow
from msp.extensions import db
from msp.policy import service as policy
from msp.policy.models import PolicyChange
from msp.publishing import cli
from msp.publishing.models import Publication
from tests.factories import token_caller
from tests.publishing.conftest import DOMAIN, NOTE, DnsEvidence, Wired, check_now, wire
from tests.publishing.servers import TsigKnot
from tests.publishing.test_end_to_end import _update_by_hand, issue, stage_of, txt_at

HAND_EDIT = "v=DMARC1; p=none; rua=mailto:someone@elsewhere.test"


def _held(knot: TsigKnot, evidence: DnsEvidence) -> tuple[Wired, PolicyChange]:
    """A change issued after a DNS check, then a hand edit of _dmarc: publishing holds."""
    wired = wire(knot.options())
    at = utcnow()
    check_now(knot.nameserver, wired.domain.id, at - timedelta(minutes=5))
    change = issue(wired.domain.id, at)
    _update_by_hand(knot, f"_dmarc.{DOMAIN}", HAND_EDIT)
    from msp.publishing import service

    assert service.publish_change(change.id, at) == "held"
    db.session.flush()
    return wired, change


def test_the_cli_writes_over_a_hand_edit_only_with_force_and_audits_before_and_after(
    app: Flask, db_session: Any, knot: TsigKnot, evidence: DnsEvidence
) -> None:
    wired, change = _held(knot, evidence)
    runner = app.test_cli_runner()
    asked = runner.invoke(cli.publish, [DOMAIN])
    assert asked.exit_code == 1 and "held" in asked.output and HAND_EDIT in asked.output
    assert txt_at(knot, f"_dmarc.{DOMAIN}") == {NOTE, HAND_EDIT}
    assert runner.invoke(cli.publish, [DOMAIN, "--dry-run", "--force"]).exit_code == 2
    forced = runner.invoke(cli.publish, [DOMAIN, "--force"])
    assert forced.exit_code == 0 and "written" in forced.output, forced.output
    engine = change.records[0]["value"]
    assert txt_at(knot, f"_dmarc.{DOMAIN}") == {NOTE, engine}  # the note survives
    row = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "dns.publish_over_hand_edit")
    ).one()
    assert row.actor_type == "cli" and row.object_id == str(wired.domain.id)
    record = row.changes["records"][0]
    assert record["name"] == f"_dmarc.{DOMAIN}" and record["type"] == "TXT"
    assert record["before"] == sorted([NOTE, HAND_EDIT])
    assert record["after"] == sorted([NOTE, engine])
    assert HAND_EDIT in row.changes["hand_edits"][0]
    publication = db.session.scalars(select(Publication)).one()
    assert publication.status == "written"
    # verified by the checker like any write: the stage moves only then
    check_now(knot.nameserver, wired.domain.id, utcnow() + timedelta(minutes=1))
    assert policy.advance_change(change.id, utcnow() + timedelta(minutes=2)) == "verified"
    assert stage_of(wired.domain.id) == "monitor"


def test_the_api_forces_only_for_administrators(
    client: FlaskClient, knot: TsigKnot, evidence: DnsEvidence
) -> None:
    wired, change = _held(knot, evidence)
    url = f"/api/v1/domains/{wired.domain.id}/publish"
    viewer = token_caller("tenant_viewer", wired.tenant)
    staff = token_caller("msp_staff")
    admin = token_caller("tenant_admin", wired.tenant)
    assert client.post(url, json={"force": True}, headers=viewer.headers).status_code == 403
    refused = client.post(url, json={"force": True}, headers=staff.headers)
    assert refused.status_code == 403, refused.get_json()
    assert "administrator" in refused.get_json()["detail"]
    unforced = client.post(url, json={}, headers=staff.headers)
    assert unforced.status_code == 200 and unforced.get_json()["outcome"] == "held"
    assert txt_at(knot, f"_dmarc.{DOMAIN}") == {NOTE, HAND_EDIT}
    forced = client.post(url, json={"force": True}, headers=admin.headers)
    assert forced.status_code == 200 and forced.get_json()["outcome"] == "written"
    assert txt_at(knot, f"_dmarc.{DOMAIN}") == {NOTE, change.records[0]["value"]}
    row = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "dns.publish_over_hand_edit")
    ).one()
    assert (row.actor_type, row.actor_id) == ("token", admin.principal.id)
    assert HAND_EDIT in row.changes["records"][0]["before"]
    request = db.session.scalars(
        select(AuditLog)
        .where(AuditLog.action == "dns.publish_request")
        .order_by(AuditLog.id.desc())
        .limit(1)
    ).one()
    assert request.changes["force"] is True and request.changes["outcome"] == "written"
