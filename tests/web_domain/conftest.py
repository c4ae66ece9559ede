"""Fixtures of the domain and reports page tests: a real DNS server (knot) serving the test
domains, a tenant whose domain has a month of aggregate reports ingested through the real
pipeline and a real DNS check stored, and users of each role logged in through the login form."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from msp.demo import aggregate_report
from msp.dns import service as dns_service
from msp.dns.http import HttpSettings
from msp.dns.options import CheckOptions
from msp.dns.resolver import Nameserver, ResolverSettings
from msp.domains.models import Domain
from msp.extensions import db
from msp.reports.models import IpInfo
from msp.reports.service import ingest_files
from msp.tenancy.models import Tenant
from tests.factories import PASSWORD, make_domain, make_tenant, make_user
from tests.support.dns_server import KnotServer, txt, zone

DOMAIN = "acme-web.test"
PARKED = "parked-web.test"
RECEIVERS = (("google.com", "noreply-dmarc-support@google.com"), ("Yahoo", "dmarc@yahoo.example"))


def _zones() -> dict[str, str]:
    return {
        DOMAIN: zone(
            DOMAIN,
            [
                f"@ IN TXT {txt('v=spf1 ip4:192.0.2.10 ip4:192.0.2.11 ?all')}",
                "@ IN MX 10 mail",
                "mail IN A 192.0.2.25",
            ],
        ),
        PARKED: zone(PARKED, []),
        "test": zone("test", []),
    }


@pytest.fixture(scope="session")
def knot() -> Iterator[KnotServer]:
    with KnotServer(_zones()) as server:
        yield server


@pytest.fixture(scope="session")
def dns_options(knot: KnotServer) -> CheckOptions:
    return CheckOptions(
        resolver=ResolverSettings((Nameserver.parse(knot.nameserver),), timeout=1.0, retries=1),
        http=HttpSettings(allow_private=True, timeout=1.0),
    )


@dataclass(frozen=True)
class World:
    tenant: Tenant
    domain: Domain
    parked: Domain
    admin: str
    viewer: str


def ingest_month(domain: Domain, days: int = 30) -> None:
    """A month of the demo's aggregate reports (workspace, newsletter, CRM, forwarder)."""
    rng = random.Random(11)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    files = [
        (f"{org}-{offset}.xml", aggregate_report(domain.name, org, email, day, rng).encode())
        for offset in range(days, 0, -1)
        for day in [today - timedelta(days=offset)]
        for org, email in RECEIVERS
    ]
    ingest_files(files, source="upload", tenant_id=domain.tenant_id)


@pytest.fixture
def world(db_session: Any, dns_options: CheckOptions) -> World:
    tenant = make_tenant(name="Acme Web", timezone="Europe/Berlin")
    domain = make_domain(tenant, DOMAIN, dkim_selectors=["google"])
    parked = make_domain(tenant, PARKED, parked=True)
    # what the enrichment job would have learnt about the newsletter's address
    db.session.add(
        IpInfo(
            ip="198.51.100.20",
            sender_key="sendgrid.net",
            sender_name="SendGrid",
            asn=11377,
            as_name="SENDGRID",
            country="us",
            complete=True,
        )
    )
    # an address the enrichment looked up but could not name: its key stays ip:<address>
    db.session.add(
        IpInfo(
            ip="192.0.2.10",
            sender_key="ip:192.0.2.10",
            sender_name="192.0.2.10",
            asn=64500,
            as_name="EXAMPLE-NET",
            country="nl",
            complete=True,
        )
    )
    db.session.flush()
    ingest_month(domain)
    for d in (domain, parked):
        dns_service.check_domain_now(d.id, options=dns_options)
    admin = make_user("tenant_admin", tenant).email
    viewer = make_user("tenant_viewer", tenant).email
    return World(tenant, domain, parked, admin, viewer)


def csrf(client: FlaskClient, path: str = "/login") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(True))
    assert match, path
    return match.group(1)


def login(client: FlaskClient, email: str) -> None:
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf(client)}
    )
    assert response.status_code == 302, response.get_data(True)
