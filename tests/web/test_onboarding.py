"""The onboarding wizard through the Flask test client: a new client with its change window,
domains from a pasted list (bad names reported, good ones kept), the exact records to publish
with the tenant's report address, and "check now" against a real DNS server (knot on
loopback) turning each record from red to green. Roles: only MSP staff who reach every tenant
create clients; a tenant viewer cannot add domains or run checks."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from msp.auth.models import AuditLog
from msp.domains.models import Domain
from msp.extensions import db
from msp.tenancy.models import Tenant
from tests.factories import make_domain, make_tenant, make_user
from tests.support.dns_server import KnotServer, txt, zone
from tests.web.support import csrf_token, login

REPORTS_DOMAIN = "reports.msp.test"


@pytest.fixture
def knot() -> Iterator[KnotServer]:
    zones = {
        "client.test": zone("client.test", []),
        "msp.test": zone("msp.test", []),
        "test": zone("test", []),
    }
    with KnotServer(zones) as server:
        yield server


@pytest.fixture
def dns_config(app: Flask, knot: KnotServer, monkeypatch: pytest.MonkeyPatch) -> KnotServer:
    monkeypatch.setitem(app.config, "MSP_DNS_NAMESERVERS", [knot.nameserver])
    monkeypatch.setitem(app.config, "MSP_DNS_TIMEOUT", 1.0)
    monkeypatch.setitem(app.config, "MSP_DNS_RETRIES", 0)
    monkeypatch.setitem(app.config, "MSP_DNS_PROBE_SELECTORS", False)
    monkeypatch.setitem(app.config, "MSP_REPORTS_DOMAIN", REPORTS_DOMAIN)
    return knot


def _code(page: str, element_id: str) -> str:
    match = re.search(rf'<code id="{re.escape(element_id)}">([^<]*)</code>', page)
    assert match, f"no #{element_id} on the page"
    return html.unescape(match.group(1))


def _status(page: str, domain_id: int, key: str) -> str:
    match = re.search(rf'class="record (\w+)" id="record-{domain_id}-{key}"', page)
    assert match, f"no record {key} of domain {domain_id}"
    return match.group(1)


def test_new_client_step_creates_tenant_with_change_window(client: FlaskClient) -> None:
    login(client, make_user("msp_admin").email)
    token = csrf_token(client, "/onboard")
    response = client.post(
        "/onboard",
        data={
            "csrf_token": token,
            "name": "Acme Dental Ltd",
            "timezone": "Europe/London",
            "plan": "pro",
            "window_days": ["tue", "thu"],
            "window_start": "09:30",
            "window_hours": "3",
        },
    )
    tenant = db.session.query(Tenant).filter_by(slug="acme-dental-ltd").one()
    assert response.location.endswith(f"/onboard/{tenant.id}/domains")
    assert (tenant.name, tenant.timezone, tenant.plan) == (
        "Acme Dental Ltd",
        "Europe/London",
        "pro",
    )
    assert tenant.settings["policy"]["change_window"] == {
        "days": ["tue", "thu"],
        "start": "09:30",
        "hours": 3,
    }
    assert db.session.query(AuditLog).filter_by(action="tenant.create").count() == 1


def test_new_client_step_reports_a_bad_time_zone_in_the_form(client: FlaskClient) -> None:
    login(client, make_user("msp_admin").email)
    response = client.post(
        "/onboard",
        data={
            "csrf_token": csrf_token(client, "/onboard"),
            "name": "Zoned",
            "timezone": "Mars/Base",
        },
    )
    page = response.get_data(True)
    assert response.status_code == 422 and "unknown time zone" in page
    assert 'value="Zoned"' in page, "what was typed stays in the form"
    assert db.session.query(Tenant).filter_by(slug="zoned").count() == 0


def test_only_unrestricted_msp_staff_create_clients(client: FlaskClient) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    assert client.get("/onboard").status_code == 403
    assert "Add a client" not in client.get(f"/tenants/{tenant.id}").get_data(True)


def test_pasted_domain_list_adds_good_names_and_reports_bad_ones(client: FlaskClient) -> None:
    tenant = make_tenant()
    make_domain(make_tenant(), "taken.example")
    login(client, make_user("msp_admin").email)
    token = csrf_token(client, f"/onboard/{tenant.id}/domains")
    response = client.post(
        f"/onboard/{tenant.id}/domains",
        data={
            "csrf_token": token,
            "domains": "one.example\ntwo.example, one.example;taken.example\nnot a domain!",
        },
    )
    page = response.get_data(True)
    assert response.status_code == 200, "the good names are kept (committed)"
    names = {d.name for d in db.session.query(Domain).filter_by(tenant_id=tenant.id)}
    assert names == {"one.example", "two.example"}
    assert "taken.example</code>: domain taken.example is already managed" in page
    assert "not</code>" in page or "domain!" in page


def test_viewer_cannot_add_domains_or_check_them(client: FlaskClient) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    login(client, make_user("tenant_viewer", tenant).email)
    token = csrf_token(client, f"/tenants/{tenant.id}")
    assert client.get(f"/onboard/{tenant.id}/records").status_code == 403
    forged = client.post(
        f"/onboard/{tenant.id}/domains", data={"csrf_token": token, "domains": "x.example"}
    )
    assert forged.status_code == 403
    check = client.post(
        f"/onboard/{tenant.id}/domains/{domain.id}/check", data={"csrf_token": token}
    )
    assert check.status_code == 403
    assert db.session.query(Domain).filter_by(tenant_id=tenant.id).count() == 1


def test_records_page_shows_exact_records_with_the_tenant_address(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "MSP_REPORTS_DOMAIN", REPORTS_DOMAIN)
    tenant = make_tenant()
    domain = make_domain(tenant, "shop.example")
    login(client, make_user("msp_admin").email)
    page = client.get(f"/onboard/{tenant.id}/records").get_data(True)
    address = f"{tenant.report_token}@{REPORTS_DOMAIN}"
    assert _code(page, f"name-{domain.id}-dmarc") == "_dmarc.shop.example"
    dmarc = _code(page, f"value-{domain.id}-dmarc")
    assert dmarc.startswith("v=DMARC1; p=none") and f"rua=mailto:{address}" in dmarc
    assert _code(page, f"name-{domain.id}-report-auth") == (
        f"shop.example._report._dmarc.{REPORTS_DOMAIN}"
    )
    assert _code(page, f"value-{domain.id}-tls-rpt") == f"v=TLSRPTv1; rua=mailto:{address}"
    assert "MSP_REPORTS_DOMAIN is not set" not in page
    assert _status(page, domain.id, "dmarc") == "unchecked"


def test_missing_reports_domain_in_production_is_a_loud_warning(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "MSP_ENV", "production")
    monkeypatch.setitem(app.config, "MSP_REPORTS_DOMAIN", None)
    tenant = make_tenant()
    make_domain(tenant)
    # the client's admin: MSP staff would owe a second factor first in production
    login(client, make_user("tenant_admin", tenant).email)
    page = client.get(f"/onboard/{tenant.id}/records").get_data(True)
    assert 'role="alert" id="address-warning">MSP_REPORTS_DOMAIN is not set' in page
    assert "receivers will not deliver reports" in page


def test_check_now_turns_records_green_once_published(
    client: FlaskClient, dns_config: KnotServer
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant, "client.test")
    login(client, make_user("msp_admin").email)
    path = f"/onboard/{tenant.id}/records"
    token = csrf_token(client, path)
    check = f"/onboard/{tenant.id}/domains/{domain.id}/check"
    assert client.post(check, data={"csrf_token": token}).status_code == 302
    page = client.get(path).get_data(True)
    assert _status(page, domain.id, "dmarc") == "missing"
    assert _status(page, domain.id, "tls-rpt") == "missing"
    dmarc, tls = _code(page, f"value-{domain.id}-dmarc"), _code(page, f"value-{domain.id}-tls-rpt")
    auth_name = _code(page, f"name-{domain.id}-report-auth")
    dns_config.set_zone(
        "client.test",
        zone("client.test", [f"_dmarc TXT {txt(dmarc)}", f"_smtp._tls TXT {txt(tls)}"], serial=2),
    )
    dns_config.set_zone(
        "msp.test", zone("msp.test", [f"{auth_name}. TXT {txt('v=DMARC1')}"], serial=2)
    )
    dns_config.reload()
    fragment = client.post(check, data={"csrf_token": token}, headers={"HX-Request": "true"})
    part = fragment.get_data(True)
    assert fragment.status_code == 200 and "<html" not in part, "htmx gets the fragment only"
    for key in ("dmarc", "report-auth", "tls-rpt"):
        assert _status(part, domain.id, key) == "ok", (key, part)
    assert "all records in place" in part
