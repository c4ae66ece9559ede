"""Where each sender's mail came from (ASNs, countries, busiest IPs), read from the stored IP
facts, in the read model, the API (checked against its own OpenAPI document) and the domain page."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from msp.extensions import db
from msp.reports import service
from msp.reports.models import IpInfo
from msp.tenancy.models import Tenant
from tests.factories import PASSWORD, make_user, token_caller
from tests.reports.hostile import build_report, row

DAY = date.today() - timedelta(days=2)
BEGIN = calendar.timegm(datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC).timetuple())


def _facts(ip: str, key: str, asn: int | None, as_name: str | None, country: str | None) -> None:
    db.session.add(
        IpInfo(
            ip=ip,
            sender_key=key,
            sender_name="Twilio SendGrid" if key == "sendgrid.net" else key,
            ptr=f"o1.ptr.{key}" if asn else None,
            base_domain=key if asn else None,
            asn=asn,
            as_name=as_name,
            country=country,
            complete=True,
        )
    )


@pytest.fixture
def domain(domain: Any) -> Any:
    """The reports domain (tests/reports/conftest.py) with one day of mail from four IPs."""
    _facts("192.0.2.10", "sendgrid.net", 11377, "SENDGRID", "US")
    _facts("192.0.2.11", "sendgrid.net", 64500, "EXAMPLE-TRANSIT", "de")
    _facts("192.0.2.12", "sendgrid.net", 11377, "SENDGRID", "US")
    _facts("192.0.2.13", "sendgrid.net", None, None, None)
    db.session.flush()
    data = build_report(
        domain.name,
        [
            row("192.0.2.10", 40),
            row("192.0.2.11", 10),
            row("192.0.2.12", 5),
            row("192.0.2.13", 1),
            row("198.51.100.9", 3, dkim=False, spf=False),
        ],
        begin=BEGIN,
        end=BEGIN + 86399,
    )
    outcomes = service.ingest_now(data, source="cli", filename="net.xml")[1]
    assert [o.status for o in outcomes] == ["ingested"]
    return domain


def test_a_sender_lists_its_asns_and_countries_busiest_first(domain: Any) -> None:
    stats = {s.key: s for s in service.sender_stats(domain.id, DAY, DAY, with_network=True)}
    network = stats["sendgrid.net"].network
    assert network is not None and network.ips == 4
    assert [(a.asn, a.as_name, a.messages) for a in network.asns] == [
        (11377, "SENDGRID", 45),
        (64500, "EXAMPLE-TRANSIT", 10),
    ]
    assert network.asn is not None and network.asn.asn == 11377
    assert [(c.country, c.messages) for c in network.countries] == [("US", 45), ("DE", 10)]
    assert [s.ip for s in network.top_ips] == [
        "192.0.2.10",
        "192.0.2.11",
        "192.0.2.12",
        "192.0.2.13",
    ]
    assert network.top_ips[-1].asn is None, "an IP without facts is listed, not guessed"


def test_an_ip_nobody_enriched_has_an_empty_network_not_a_missing_one(domain: Any) -> None:
    stats = {s.key: s for s in service.sender_stats(domain.id, DAY, DAY, with_network=True)}
    network = stats["ip:198.51.100.9"].network
    assert network is not None
    assert (network.ips, network.asns, network.countries, network.asn) == (1, (), (), None)
    assert [(s.ip, s.messages, s.country) for s in network.top_ips] == [("198.51.100.9", 3, None)]


def test_the_policy_reads_skip_the_network_query(domain: Any) -> None:
    assert all(s.network is None for s in service.sender_stats(domain.id, DAY, DAY))


def test_the_senders_api_exposes_the_network_as_documented(
    client: FlaskClient, domain: Any
) -> None:
    viewer = token_caller("tenant_viewer", db.session.get(Tenant, domain.tenant_id))
    db.session.commit()
    url = f"/api/v1/domains/{domain.id}/senders?since={DAY}&until={DAY}"
    body = client.get(url, headers=viewer.headers).get_json()
    sendgrid = {s["key"]: s for s in body}["sendgrid.net"]
    assert sendgrid["network"]["asns"][0] == {"asn": 11377, "as_name": "SENDGRID", "messages": 45}
    assert [c["country"] for c in sendgrid["network"]["countries"]] == ["US", "DE"]
    assert sendgrid["network"]["top_ips"][0] == {
        "ip": "192.0.2.10",
        "messages": 40,
        "ptr": "o1.ptr.sendgrid.net",
        "asn": 11377,
        "as_name": "SENDGRID",
        "country": "US",
    }
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    assert "network" in schemas["SenderStat"]["properties"]
    assert set(schemas["SenderNetwork"]["properties"]) == {"ips", "asns", "countries", "top_ips"}


def test_the_domain_page_shows_each_senders_main_asn_and_countries(
    client: FlaskClient, domain: Any
) -> None:
    user = make_user("tenant_viewer", db.session.get(Tenant, domain.tenant_id))
    db.session.commit()
    page = client.get("/login").get_data(True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    form = {"email": user.email, "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=form).status_code == 302
    html = client.get(f"/domains/{domain.id}").get_data(True)
    row_html = html[html.index("sendgrid.net") :]
    row_html = row_html[: row_html.index("</tr>")]
    assert "AS11377 SENDGRID" in row_html and "+1 more" in row_html
    # The page's wording (tests/web_domain owns the page): "N addresses", "Network not known".
    assert "US, DE" in row_html and "4 addresses" in row_html
    assert "Network not known yet" in html, "the unenriched sender says so"
