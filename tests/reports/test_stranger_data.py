"""Stranger-written data cannot make the reports API unusable (issue 13, hole 6), verdicts only
on real senders, and authentication before the body is read (hole 9 / issue 14)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from msp.extensions import db
from msp.reports import queries, service
from msp.reports.models import IpInfo, Sender
from msp.tenancy.models import Tenant
from tests.factories import make_domain, make_tenant, token_caller
from tests.reports.hostile import build_report, row

SINCE, UNTIL = date(2025, 1, 1), date(2025, 1, 31)
SENDERS = 130
WIDE_IPS = 40  # source IPs of one named sender


def _ip(i: int) -> str:
    return f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"


@pytest.fixture
def crowded(db_session: Any, reports_config: Any) -> Any:
    """A domain with 130 one-IP senders and one named sender spread over 40 IPs."""
    domain = make_domain(make_tenant("crowd"), "crowd.example")
    rows = [row(_ip(i), 1 + i % 17) for i in range(SENDERS)]
    rows += [row(_ip(1000 + i), 2, dkim=False) for i in range(WIDE_IPS)]
    for i in range(WIDE_IPS):
        db.session.add(
            IpInfo(
                ip=_ip(1000 + i),
                sender_key="wide.example",
                sender_name="Wide Mail",
                asn=64500 + i % 7,
                as_name=f"AS-{i % 7}",
                country=("us", "de", "fr", "nl", "se", "it", "es", "pl")[i % 8],
                complete=True,
            )
        )
    db.session.flush()
    service.ingest_now(build_report(domain.name, rows), source="cli", filename="crowd.xml")
    return domain


def test_sender_pages_cut_the_same_ranking_in_sql(crowded: Any) -> None:
    every = queries.sender_stats(crowded.id, SINCE, UNTIL)
    assert len(every) == SENDERS + 1
    paged = [
        s
        for offset in range(0, len(every), 25)
        for s in queries.sender_stats(crowded.id, SINCE, UNTIL, limit=25, offset=offset)
    ]
    assert [s.key for s in paged] == [s.key for s in every]
    assert paged == every
    page = queries.sender_page(crowded.id, SINCE, UNTIL, limit=10, offset=125)
    assert page.total == SENDERS + 1 and len(page.items) == 6
    assert queries.sender_page(crowded.id, SINCE, UNTIL, limit=10, offset=500).items == []


def test_network_details_are_capped_and_match_the_python_summary(crowded: Any) -> None:
    [wide] = [
        s
        for s in queries.sender_stats(crowded.id, SINCE, UNTIL, with_network=True)
        if s.key == "wide.example"
    ]
    assert wide.network is not None and wide.network.ips == WIDE_IPS
    assert len(wide.network.top_ips) == queries.TOP_NETWORK_ITEMS
    assert len(wide.network.asns) == 5 and len(wide.network.countries) == 5
    ips = [
        queries.SourceIp(_ip(1000 + i), 2, None, 64500 + i % 7, f"AS-{i % 7}", c.upper())
        for i, c in (
            (i, ("us", "de", "fr", "nl", "se", "it", "es", "pl")[i % 8]) for i in range(40)
        )
    ]
    assert wide.network == queries._network(ips)


def test_the_senders_api_is_paged_with_a_total(client: FlaskClient, crowded: Any) -> None:
    viewer = token_caller("tenant_viewer", db.session.get(Tenant, crowded.tenant_id))
    db.session.commit()
    url = f"/api/v1/domains/{crowded.id}/senders?since=2025-01-01&until=2025-01-31"
    first = client.get(url, headers=viewer.headers)
    assert first.status_code == 200 and len(first.get_json()) == 50
    assert json.loads(first.headers["X-Pagination"])["total"] == SENDERS + 1
    last = client.get(url + "&page=3&page_size=50", headers=viewer.headers).get_json()
    assert len(last) == SENDERS + 1 - 100
    too_big = client.get(url + "&page_size=100000", headers=viewer.headers)
    assert too_big.status_code == 422
    tls = client.get(f"/api/v1/domains/{crowded.id}/tls", headers=viewer.headers)
    assert tls.status_code == 200 and json.loads(tls.headers["X-Pagination"])["total"] == 0


def test_a_verdict_needs_a_well_formed_sender_of_the_domain(
    client: FlaskClient, crowded: Any
) -> None:
    admin = token_caller("tenant_admin", db.session.get(Tenant, crowded.tenant_id))
    db.session.commit()
    base = f"/api/v1/domains/{crowded.id}/senders"
    body = {"status": "approved"}
    junk = client.put(f"{base}/{'x' * 5000}", headers=admin.headers, json=body)
    assert junk.status_code == 422
    bad_ip = client.put(f"{base}/ip:999.1.1.1", headers=admin.headers, json=body)
    assert bad_ip.status_code == 422
    stranger = client.put(f"{base}/ip:192.0.2.77", headers=admin.headers, json=body)
    assert stranger.status_code == 404
    unknown_name = client.put(f"{base}/never-seen.example", headers=admin.headers, json=body)
    assert unknown_name.status_code == 404
    assert db.session.scalars(select(Sender.key)).all() == []
    seen = client.put(f"{base}/ip:{_ip(3)}", headers=admin.headers, json=body)
    named = client.put(f"{base}/wide.example", headers=admin.headers, json=body)
    assert (seen.status_code, named.status_code) == (200, 200)
    assert set(db.session.scalars(select(Sender.key))) == {f"ip:{_ip(3)}", "wide.example"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("put", "/api/v1/domains/1/senders/ip:192.0.2.1", {"status": 42}),
        ("post", "/api/v1/report-mailboxes", {"port": "many"}),
        ("patch", "/api/v1/report-mailboxes/1", {"port": "many"}),
        ("get", "/api/v1/reports?kind=nonsense", None),
        ("get", "/api/v1/domains/1/senders?since=yesterday", None),
        ("post", "/api/v1/reports?tenant_id=abc", None),
    ],
)
def test_anonymous_requests_with_bad_input_get_401_not_field_errors(
    client: FlaskClient, db_session: Any, method: str, path: str, body: Any
) -> None:
    response = getattr(client, method)(path, json=body)
    assert response.status_code == 401, response.get_json()
