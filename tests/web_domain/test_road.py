"""The road to p=reject on the domain page: propose, approve (the button goes, a second click
is told what happened), reschedule in the tenant's time zone, reject; and the what-if
simulator's per-sender outcomes."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.models import AuditLog
from msp.extensions import db
from msp.policy.models import PolicyChange
from tests.web_domain.conftest import World, csrf, login


def _page(client: FlaskClient, world: World) -> str:
    response = client.get(f"/domains/{world.domain.id}")
    assert response.status_code == 200
    return html.unescape(response.get_data(True))


def _post(client: FlaskClient, world: World, path: str, **form: str) -> str:
    data = {"csrf_token": csrf(client, f"/domains/{world.domain.id}"), **form}
    response = client.post(f"/domains/{world.domain.id}{path}", data=data)
    assert response.status_code == 302, response.get_data(True)[:1000]
    return _page(client, world)


def _change(world: World) -> PolicyChange:
    change = db.session.scalar(
        select(PolicyChange).where(PolicyChange.domain_id == world.domain.id)
    )
    assert change is not None
    db.session.refresh(change)
    return change


def test_propose_approve_and_a_second_approve_is_explained(
    client: FlaskClient, world: World
) -> None:
    login(client, world.admin)
    page = _page(client, world)
    assert 'id="propose"' in page and "Propose move to monitor" in page
    page = _post(client, world, "/escalations")
    assert "Proposed: move to monitor. It waits for approval." in page
    assert 'id="propose"' not in page and "Approve move to monitor" in page
    assert "waiting for approval" in page
    change = _change(world)
    page = _post(client, world, f"/escalations/{change.id}/approve")
    assert "Approved: the move to monitor will be issued" in page
    assert 'id="approve"' not in page, "after approving, the approve button is gone"
    assert 'id="reschedule"' in page and "Reject move to monitor" in page
    page = _post(client, world, f"/escalations/{change.id}/approve")
    assert re.search(r"already (approved|scheduled) by .*; nothing to do", page), "clear message"
    assert _change(world).status in {"approved", "scheduled"}
    actions = db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions.count("policy.propose") == 1 and actions.count("policy.approve") == 1


def test_reschedule_takes_the_tenant_time_zone_and_reject_closes_the_change(
    client: FlaskClient, world: World
) -> None:
    login(client, world.admin)
    _post(client, world, "/escalations")
    change = _change(world)
    _post(client, world, f"/escalations/{change.id}/approve")
    page = _post(client, world, f"/escalations/{change.id}/schedule", at="2031-05-04T09:30")
    assert "Rescheduled: the change will be issued 04 May 2031 09:30 CEST." in page
    scheduled = _change(world).scheduled_for
    assert scheduled is not None and scheduled.isoformat().startswith("2031-05-04T07:30")
    page = _post(client, world, f"/escalations/{change.id}/schedule", at="not a time")
    assert "Give a date and time" in page
    page = _post(client, world, f"/escalations/{change.id}/reject", note="wait for the CRM")
    assert "Rejected: the domain stays at none." in page
    assert 'id="open-change"' not in page and "Propose move to monitor" in page
    assert "wait for the CRM" in page, "the reason is kept in the timeline"
    assert _change(world).status == "rejected"
    page = _post(client, world, f"/escalations/{change.id}/reject")
    assert "already rejected" in page


def test_viewer_cannot_decide_an_escalation(client: FlaskClient, world: World) -> None:
    login(client, world.admin)
    _post(client, world, "/escalations")
    change = _change(world)
    client.post("/logout", data={"csrf_token": csrf(client, f"/domains/{world.domain.id}")})
    login(client, world.viewer)
    page = _page(client, world)
    assert "waiting for approval" in page and "Approve move" not in page
    token = csrf(client, f"/domains/{world.domain.id}")
    for action in ("approve", "reject", "schedule"):
        url = f"/domains/{world.domain.id}/escalations/{change.id}/{action}"
        assert client.post(url, data={"csrf_token": token}).status_code == 403
    assert _change(world).status == "proposed"


def test_what_if_shows_per_sender_outcomes_approved_against_unknown(
    client: FlaskClient, world: World
) -> None:
    login(client, world.admin)
    token = csrf(client, f"/domains/{world.domain.id}")
    client.post(
        f"/domains/{world.domain.id}/senders",
        data={"csrf_token": token, "one": "approved sendgrid.net"},
    )
    response = client.get(
        f"/domains/{world.domain.id}/what-if",
        query_string={"record": "v=DMARC1; p=reject", "days": "30"},
    )
    assert response.status_code == 200
    page = html.unescape(response.get_data(True))
    table = page.split('id="whatif-senders"')[1].split("</table>")[0]
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"<small>([^<]+)</small></th>(.*?)</tr>", table, re.S)
    }
    assert set(rows) >= {"ip:192.0.2.10", "sendgrid.net", "ip:203.0.113.30"}
    cells = {k: re.findall(r'data-label="(\w+)">([\d,]+)<', v) for k, v in rows.items()}
    rejected = {k: int(dict(v)["Rejected"].replace(",", "")) for k, v in cells.items()}
    assert rejected["ip:192.0.2.10"] == 0, "aligned mail is never rejected"
    assert rejected["ip:203.0.113.30"] > 0 and rejected["sendgrid.net"] > 0
    assert "Your approved senders: " in page and "fix their alignment" in page
    bad = client.get(
        f"/domains/{world.domain.id}/what-if", query_string={"record": "v=DMARC1; p=maybe"}
    )
    assert "p=maybe is not none, quarantine or reject" in html.unescape(bad.get_data(True))
