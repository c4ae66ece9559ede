"""Domains are claimed only with proof (hole 5): no public suffixes, nothing under another
tenant's domain unless MSP staff allow it, and a tenant-added domain is unverified until a TXT
token or the DMARC rua shows control (or MSP staff vouch for it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.models import AuditLog
from msp.domains.models import Domain
from msp.extensions import db
from tests.factories import make_domain, make_tenant, token_caller
from tests.support.dns_server import KnotServer, txt, zone

REPORT_TOKEN = "rproof0000000001"
ZONE = zone(
    "proof.test",
    [
        f"_msp-verify.txt-proof IN TXT {txt('msp-verify=known-token-1234')}",
        f"_msp-verify.wrong-token IN TXT {txt('msp-verify=someone-elses')}",
        "_dmarc.rua-proof IN TXT "
        + txt(f"v=DMARC1; p=none; rua=mailto:{REPORT_TOKEN}@reports.msp.test!10m"),
        "_dmarc.rua-other IN TXT " + txt("v=DMARC1; p=none; rua=mailto:dmarc@elsewhere.test"),
    ],
)


@pytest.fixture(scope="module")
def knot() -> Iterator[KnotServer]:
    with KnotServer({"proof.test": ZONE}) as server:
        yield server


@pytest.fixture
def dns(app: Flask, knot: KnotServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "MSP_DNS_NAMESERVERS", [knot.nameserver])
    monkeypatch.setitem(app.config, "MSP_DNS_TIMEOUT", 1.0)
    monkeypatch.setitem(app.config, "MSP_REPORTS_DOMAIN", "reports.msp.test")


def _add(client: FlaskClient, tenant_id: int, name: str, headers: dict[str, str], **extra: object):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/tenants/{tenant_id}/domains", json={"name": name, **extra}, headers=headers
    )


def test_public_suffixes_are_refused_for_everyone(client: FlaskClient) -> None:
    tenant = make_tenant()
    for caller in (token_caller("tenant_admin", tenant), token_caller("msp_admin")):
        for name in ("co.uk", "github.io", "com"):
            r = _add(client, tenant.id, name, caller.headers)
            assert r.status_code == 422, (name, r.get_data(as_text=True))


def test_a_name_under_another_tenants_domain_needs_msp_staff(client: FlaskClient) -> None:
    bcorp, rogue = make_tenant(), make_tenant()
    make_domain(bcorp, "bcorp.test")
    admin = token_caller("tenant_admin", rogue)
    r = _add(client, rogue.id, "mail.bcorp.test", admin.headers)
    assert r.status_code == 409, r.get_data(as_text=True)
    r = _add(client, rogue.id, "mail.bcorp.test", admin.headers, allow_nested=True)
    assert r.status_code == 409, "the flag is for MSP staff only"
    staff = token_caller("msp_staff")
    r = _add(client, rogue.id, "mail.bcorp.test", staff.headers)
    assert r.status_code == 409
    r = _add(client, rogue.id, "mail.bcorp.test", staff.headers, allow_nested=True)
    assert r.status_code == 201, r.get_data(as_text=True)
    # The tenant that owns the parent adds its own subdomains freely.
    r = _add(client, bcorp.id, "news.bcorp.test", token_caller("tenant_admin", bcorp).headers)
    assert r.status_code == 201


def test_tenant_added_domains_start_unverified_staff_added_verified(client: FlaskClient) -> None:
    tenant = make_tenant()
    r = _add(client, tenant.id, "own.example", token_caller("tenant_admin", tenant).headers)
    assert r.status_code == 201 and r.get_json()["verified_at"] is None
    r = _add(client, tenant.id, "staff.example", token_caller("msp_staff").headers)
    assert r.status_code == 201 and r.get_json()["verified_at"] is not None


def _unverified(
    tenant_name: str, name: str, token: str | None = None
) -> tuple[Domain, dict[str, str]]:
    tenant = make_tenant(tenant_name)
    tenant.report_token = REPORT_TOKEN
    admin = token_caller("tenant_admin", tenant)
    domain = make_domain(tenant, name)
    domain.verified_at = None
    domain.verification_token = token or "known-token-1234"
    db.session.flush()
    return domain, admin.headers


@pytest.mark.usefixtures("dns")
@pytest.mark.parametrize(
    ("name", "verified", "method"),
    [
        ("txt-proof.proof.test", True, "txt"),
        ("rua-proof.proof.test", True, "dmarc_rua"),
        ("wrong-token.proof.test", False, ""),
        ("rua-other.proof.test", False, ""),
        ("nothing.proof.test", False, ""),
    ],
)
def test_verification_by_txt_token_or_dmarc_rua(
    client: FlaskClient, name: str, verified: bool, method: str
) -> None:
    domain, headers = _unverified("claimer", name)
    url = f"/api/v1/domains/{domain.id}/verification"
    shown = client.get(url, headers=headers).get_json()
    assert shown["txt_name"] == f"_msp-verify.{name}"
    assert shown["txt_value"] == "msp-verify=known-token-1234"
    assert shown["report_address"] == f"mailto:{REPORT_TOKEN}@reports.msp.test"
    r = client.post(url, headers=headers)
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert (body["verified"], body["method"]) == (verified, method)
    row = db.session.get(Domain, domain.id)
    assert row is not None
    db.session.refresh(row)
    assert (row.verified_at is not None) == verified
    audited = db.session.scalar(
        select(AuditLog).where(
            AuditLog.action == "domain.verify", AuditLog.object_id == str(domain.id)
        )
    )
    assert (audited is not None) == verified


def test_only_msp_staff_mark_a_domain_verified(client: FlaskClient) -> None:
    domain, headers = _unverified("vouched", "vouched.example")
    url = f"/api/v1/domains/{domain.id}/mark-verified"
    assert client.post(url, headers=headers).status_code == 403
    r = client.post(url, headers=token_caller("msp_staff").headers)
    assert r.status_code == 200 and r.get_json()["method"] == "staff"
    assert db.session.scalar(
        select(AuditLog.changes).where(
            AuditLog.action == "domain.verify", AuditLog.object_id == str(domain.id)
        )
    ) == {"name": "vouched.example", "method": "staff"}


def test_proof_in_records_the_checker_already_fetched(db_session: object) -> None:
    from msp.db import utcnow
    from msp.domains.verification import proof_in, record_proof

    domain, _headers = _unverified("pure", "pure.example")
    rua = f"mailto:{REPORT_TOKEN}@reports.msp.test"
    assert proof_in(domain, ("msp-verify=known-token-1234",), (), rua) == "txt"
    assert proof_in(domain, (), (f"v=DMARC1; p=none; rua=mailto:x@y.test,{rua}",), rua) == (
        "dmarc_rua"
    )
    two_records = (f"v=DMARC1; p=none; rua={rua}", "v=DMARC1; p=reject")
    assert proof_in(domain, ("msp-verify=other",), two_records, rua) == ""
    assert record_proof(domain, "", now=utcnow()) is False
    assert record_proof(domain, "txt", now=utcnow()) is True
    assert domain.verified_at is not None
    assert record_proof(domain, "txt", now=utcnow()) is False
