"""The domain page's "Publishing" section through the Flask test client, against a real knot:
the effective mode and where it comes from, choosing the provider and zone, the dry-run diff
read from the provider, "Publish now" (confirmation page, then the write), a hand edit that
holds the write and says what differs, and "Publish over the hand edit" for administrators
only. A viewer sees the state and no button, and is refused a forged post."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.models import AuditLog
from msp.extensions import db
from msp.publishing import accounts
from msp.publishing.models import Publication
from tests.factories import make_user
from tests.publishing.conftest import NOTE, DnsEvidence
from tests.publishing.servers import TsigKnot
from tests.publishing.test_end_to_end import txt_at
from tests.web.support import csrf_token, login
from tests.web_publishing.conftest import (
    DOMAIN,
    Client,
    add_account,
    edit_by_hand,
    issued_change,
    undo_by_hand,
)


def _page(client: FlaskClient, domain_id: int, query: str = "") -> str:
    """The domain page as its words read (tags dropped, white space collapsed)."""
    answer = client.get(f"/domains/{domain_id}{query}")
    assert answer.status_code == 200
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", answer.get_data(True))).split())


def test_admin_chooses_the_provider_and_zone_and_sees_where_the_mode_comes_from(
    client: FlaskClient, acme: Client, knot: TsigKnot
) -> None:
    row = add_account(acme, knot)
    login(client, acme.admin)
    page = _page(client, acme.domain.id)
    assert "Publish mode: manual" in page and "Nobody chose a mode yet" in page
    assert "No DNS provider: the records are published by hand" in page
    token = csrf_token(client, f"/domains/{acme.domain.id}")
    bad = {"csrf_token": token, "provider_id": str(row.id), "zone": "elsewhere.test"}
    client.post(f"/domains/{acme.domain.id}/publishing", data=bad)
    page = _page(client, acme.domain.id)
    assert "not changed" in page and "not pub-e2e.test or a parent of it" in page
    assert accounts.publishing_of(acme.domain) is None
    good = {"csrf_token": token, "provider_id": str(row.id), "zone": DOMAIN, "mode": "on_approval"}
    client.post(f"/domains/{acme.domain.id}/publishing", data=good)
    page = _page(client, acme.domain.id)
    assert f"Written through Acme DNS (rfc2136) in zone {DOMAIN}" in page
    assert "Publish mode: on approval" in page and "Set for this domain" in page
    audit = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "domain.dns_provider")
    ).one()
    assert audit.changes["provider_id"] == row.id and audit.changes["mode"] == "on_approval"


def test_publish_now_shows_the_diff_asks_then_writes_and_keeps_other_records(
    client: FlaskClient, acme: Client, pointed: TsigKnot, evidence: DnsEvidence
) -> None:
    change = issued_change(acme, pointed)
    login(client, acme.admin)
    page = _page(client, acme.domain.id)
    assert "Publish pub-e2e.test now" in page and "Nothing has been written" in page
    assert "Publish mode: on approval" in page and "Acme Publishing's default" in page
    diff = _page(client, acme.domain.id, "?diff=1")
    value = change.records[0]["value"]
    assert "What would be written now via Acme DNS (rfc2136)" in diff
    assert value in diff and "other values at this name stay" in diff
    assert txt_at(pointed, f"_dmarc.{DOMAIN}") == {NOTE}, "the diff writes nothing"
    ask = html.unescape(client.get(f"/domains/{acme.domain.id}/publish").get_data(True))
    assert "Publish pub-e2e.test's record now?" in ask and "Cancel" in ask
    token = csrf_token(client, f"/domains/{acme.domain.id}")
    client.post(f"/domains/{acme.domain.id}/publish", data={"csrf_token": token})
    assert txt_at(pointed, f"_dmarc.{DOMAIN}") == {NOTE, value}
    page = _page(client, acme.domain.id)
    assert "Written for pub-e2e.test via Acme DNS" in page
    assert "Status written When" in page
    assert "Approved by" in page and "Verified by the DNS check" in page and "not yet" in page
    assert "Publish pub-e2e.test now" not in page, "written: nothing left to publish"
    assert db.session.scalars(select(AuditLog.action)).all().count("dns.publish") == 1


def test_a_hand_edit_holds_the_write_and_only_an_administrator_publishes_over_it(
    client: FlaskClient, acme: Client, pointed: TsigKnot, evidence: DnsEvidence
) -> None:
    change = issued_change(acme, pointed)
    by_hand = "v=DMARC1; p=none; rua=mailto:someone@elsewhere.test"
    edit_by_hand(pointed, DOMAIN, f"_dmarc.{DOMAIN}", by_hand)
    staff = make_user("msp_staff", restricted=True)
    from msp.auth.users import add_membership

    add_membership(acme.tenant.id, staff, "staff")
    db.session.flush()
    login(client, staff.email)
    token = csrf_token(client, f"/domains/{acme.domain.id}")
    client.post(f"/domains/{acme.domain.id}/publish", data={"csrf_token": token})
    assert txt_at(pointed, f"_dmarc.{DOMAIN}") == {NOTE, by_hand}, "nothing written"
    page = _page(client, acme.domain.id)
    assert "Not written: the record of pub-e2e.test was edited by hand" in page
    assert "What differs:" in page and by_hand in page
    assert "Publish over the hand edit" not in page and "Only an administrator may" in page
    forced = {"csrf_token": token, "force": "1"}
    assert client.post(f"/domains/{acme.domain.id}/publish", data=forced).status_code == 403
    assert client.get(f"/domains/{acme.domain.id}/publish?force=1").status_code == 403

    client.post("/logout", data={"csrf_token": token})
    login(client, acme.admin)
    page = _page(client, acme.domain.id)
    assert "Publish over the hand edit of pub-e2e.test" in page
    ask = html.unescape(client.get(f"/domains/{acme.domain.id}/publish?force=1").get_data(True))
    assert "Their change is lost" in ask and 'name="force" value="1"' in ask
    token = csrf_token(client, f"/domains/{acme.domain.id}")
    client.post(f"/domains/{acme.domain.id}/publish", data={"csrf_token": token, "force": "1"})
    assert txt_at(pointed, f"_dmarc.{DOMAIN}") == {NOTE, change.records[0]["value"]}
    publication = db.session.scalars(select(Publication)).one()
    assert publication.status == "written"
    actions = db.session.scalars(select(AuditLog.action)).all()
    assert "dns.publish" in actions and actions.count("dns.publish_request") == 2


def test_viewer_sees_the_publishing_state_but_no_button_and_forged_posts_fail(
    client: FlaskClient, acme: Client, pointed: TsigKnot, evidence: DnsEvidence
) -> None:
    issued_change(acme, pointed)
    login(client, acme.viewer)
    page = _page(client, acme.domain.id)
    assert "Publish mode: on approval" in page and "Written through Acme DNS" in page
    for control in ("Publish pub-e2e.test now", "Change where and how", "Publish over the hand"):
        assert control not in page
    token = csrf_token(client, f"/domains/{acme.domain.id}")
    for path, data in (
        (f"/domains/{acme.domain.id}/publish", {}),
        (f"/domains/{acme.domain.id}/publish", {"force": "1"}),
        (f"/domains/{acme.domain.id}/publishing", {"provider_id": ""}),
    ):
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 403
    assert txt_at(pointed, f"_dmarc.{DOMAIN}") == {NOTE}
    assert db.session.scalars(select(Publication)).all() == []


def test_once_the_hand_edit_is_undone_publish_now_writes_without_force(
    client: FlaskClient, acme: Client, pointed: TsigKnot, evidence: DnsEvidence
) -> None:
    change = issued_change(acme, pointed)
    by_hand = "v=DMARC1; p=reject; rua=mailto:someone@elsewhere.test"
    edit_by_hand(pointed, DOMAIN, f"_dmarc.{DOMAIN}", by_hand)
    login(client, acme.admin)
    token = csrf_token(client, f"/domains/{acme.domain.id}")
    client.post(f"/domains/{acme.domain.id}/publish", data={"csrf_token": token})
    page = _page(client, acme.domain.id)
    assert "In DNS, and what was to be written" in page and "To be written (not written)" in page
    assert "Publish pub-e2e.test now" in page, "a person may try again after fixing it"
    undo_by_hand(pointed, DOMAIN, f"_dmarc.{DOMAIN}", by_hand)
    client.post(f"/domains/{acme.domain.id}/publish", data={"csrf_token": token})
    assert txt_at(pointed, f"_dmarc.{DOMAIN}") == {NOTE, change.records[0]["value"]}
    page = _page(client, acme.domain.id)
    assert "Written for pub-e2e.test via Acme DNS" in page and "Before and after" in page


def test_a_write_waiting_for_the_clients_cname_is_said_so_not_nothing_to_write() -> None:
    from msp.domains.models import Domain
    from msp.web.publishing_pages import _outcome_words
    from msp.web.publishing_read import PUBLICATION_WORDS

    missing = "_dmarc.client.test CNAME client.test._dmarc.records.msp.test is missing"
    words, kind = _outcome_words(
        Domain(name="client.test"), {"outcome": "waiting", "publication": {"error": missing}}
    )
    assert kind == "error" and "Nothing to write" not in words
    assert "client.test" in words and missing in words
    assert "CNAME" in PUBLICATION_WORDS["waiting"]
