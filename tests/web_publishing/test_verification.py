"""Domain verification in the browser (Flask test client) against a real knot: a domain a
client's admin adds is unverified, its page shows the exact TXT record to publish and "Check
now" finds it (audited, reports routed); MSP staff may vouch; a viewer sees the state without a
button. The onboarding's records step shows the same record and, with a hosted zone
configured, the delegation CNAMEs, each turning green once DNS shows it."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.models import AuditLog
from msp.domains.models import Domain
from msp.extensions import db
from msp.tenancy.models import Tenant
from tests.factories import make_user
from tests.publishing.servers import TsigKnot
from tests.web.support import csrf_token, login
from tests.web_publishing.conftest import HOSTED, VERIFY, Client, edit_by_hand


def _words(answer: object) -> str:
    body = answer.get_data(True)  # type: ignore[attr-defined]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _add_as_client(client: FlaskClient, tenant: Tenant) -> Domain:
    """The client's own admin adds the domain (unverified, with a token to publish)."""
    path = f"/onboard/{tenant.id}/domains"
    client.post(path, data={"csrf_token": csrf_token(client, path), "domains": VERIFY})
    domain = db.session.scalars(select(Domain).where(Domain.name == VERIFY)).one()
    assert domain.verified_at is None and domain.verification_token
    return domain


def test_check_now_finds_the_published_txt_record_and_routes_the_reports(
    client: FlaskClient, acme: Client, pointed: TsigKnot
) -> None:
    login(client, acme.admin)
    domain = _add_as_client(client, acme.tenant)
    page = _words(client.get(f"/domains/{domain.id}"))
    value = f"msp-verify={domain.verification_token}"
    assert "Not verified yet: reports that name verify-web.test are kept aside" in page
    assert f"TXT at _msp-verify.{VERIFY}" in page and value in page
    raw = client.get(f"/domains/{domain.id}").get_data(True)
    assert 'aria-label="Copy value of the verification record for verify-web.test"' in raw
    token = csrf_token(client, f"/domains/{domain.id}")
    client.post(f"/domains/{domain.id}/verification", data={"csrf_token": token})
    page = _words(client.get(f"/domains/{domain.id}"))
    assert "verify-web.test is not verified yet: neither the verification TXT record" in page
    edit_by_hand(pointed, VERIFY, f"_msp-verify.{VERIFY}", value)
    client.post(f"/domains/{domain.id}/verification", data={"csrf_token": token})
    page = _words(client.get(f"/domains/{domain.id}"))
    assert "verify-web.test is verified (the verification TXT record was found)" in page
    assert "Verified: reports for verify-web.test are routed to Acme Publishing" in page
    assert "Check now whether" not in page
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "domain.verify")).one()
    assert audit.changes == {"name": VERIFY, "method": "txt"}


def test_viewer_sees_the_record_without_buttons_and_only_msp_staff_vouch(
    client: FlaskClient, acme: Client, pointed: TsigKnot
) -> None:
    login(client, acme.admin)
    domain = _add_as_client(client, acme.tenant)
    token = csrf_token(client, f"/domains/{domain.id}")
    vouch = f"/domains/{domain.id}/verification/vouch"
    assert client.post(vouch, data={"csrf_token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    login(client, acme.viewer)
    page = _words(client.get(f"/domains/{domain.id}"))
    assert f"_msp-verify.{VERIFY}" in page and "Check now whether" not in page
    assert "Vouch for" not in page
    token = csrf_token(client, f"/domains/{domain.id}")
    assert (
        client.post(f"/domains/{domain.id}/verification", data={"csrf_token": token}).status_code
        == 403
    )
    client.post("/logout", data={"csrf_token": token})
    login(client, make_user("msp_admin").email)
    page = _words(client.get(f"/domains/{domain.id}"))
    assert "Vouch for verify-web.test (MSP staff)" in page
    token = csrf_token(client, f"/domains/{domain.id}")
    client.post(vouch, data={"csrf_token": token})
    assert "verify-web.test is verified (MSP staff vouched for it)" in _words(
        client.get(f"/domains/{domain.id}")
    )
    db.session.refresh(domain)
    assert domain.verified_at is not None
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "domain.verify")).one()
    assert audit.changes["method"] == "staff"


def test_onboarding_shows_the_proof_and_the_delegation_cnames_and_check_now_marks_them(
    client: FlaskClient, acme: Client, pointed: TsigKnot, hosted: None
) -> None:
    login(client, acme.admin)
    domain = _add_as_client(client, acme.tenant)
    records = f"/onboard/{acme.tenant.id}/records"
    page = _words(client.get(records))
    assert "Proof of control not checked" in page
    assert f"_msp-verify.{VERIFY}" in page and f"msp-verify={domain.verification_token}" in page
    target = f"{VERIFY}._dmarc.{HOSTED}."
    assert "Hand these records to the MSP once" in page
    assert f"Name _dmarc.{VERIFY}" in page and target in page
    check = f"/onboard/{acme.tenant.id}/domains/{domain.id}/check"
    token = csrf_token(client, records)
    fragment = _words(client.post(check, data={"csrf_token": token}, headers={"HX-Request": "1"}))
    assert "Proof of control ✗ not found" in fragment
    assert f"_dmarc.{VERIFY} has no CNAME yet: publish _dmarc.{VERIFY} CNAME {target}" in fragment
    proof = f"msp-verify={domain.verification_token}"
    edit_by_hand(pointed, VERIFY, f"_msp-verify.{VERIFY}", proof)
    edit_by_hand(pointed, VERIFY, f"_dmarc.{VERIFY}", target, "CNAME")
    fragment = _words(client.post(check, data={"csrf_token": token}, headers={"HX-Request": "1"}))
    assert "Proof of control ✓ found" in fragment and "verified: its reports are routed" in fragment
    assert f"Delegation of _dmarc.{VERIFY} ✓ found" in fragment
    assert f"Delegation of _smtp._tls.{VERIFY} ✗ not found" in fragment
    db.session.refresh(domain)
    assert domain.verified_at is not None
