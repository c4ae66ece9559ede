"""Fixtures of the publishing tests: a TSIG knot per test, the policy evidence seam with the
DNS posture read from the real checker's runs, and a tenant/domain wired to a provider."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from flask import Flask, current_app

from msp.dns.service import check_domain_now, latest_posture
from msp.dns.settings import checker_options
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy.facts import PostureFacts
from msp.policy.loader import EXTENSION_KEY, posture_from_view
from msp.publishing import accounts
from msp.publishing.models import DnsProvider
from msp.tenancy.models import Tenant
from tests.dns.world import keys
from tests.factories import make_domain, make_tenant
from tests.policy.evidence import StaticEvidence
from tests.publishing.servers import CloudflareStandIn, Route53Server, TsigKnot, zone

DOMAIN = "pub-e2e.test"
SPF = "v=spf1 ip4:192.0.2.0/24 -all"
VERIFICATION = "site-verification=keep-me"
NOTE = "owner=it-dept"


def base_records() -> list[str]:
    """The client's zone: SPF and a verification token at the apex, a note at _dmarc, a
    DKIM key for the approved sender, and an MX."""
    return [
        f'@ TXT "{SPF}"',
        f'@ TXT "{VERIFICATION}"',
        f'_dmarc TXT "{NOTE}"',
        f'google._domainkey TXT "v=DKIM1; k=rsa; p={keys()["rsa2048"]}"',
        "@ MX 10 mx1",
        "mx1 A 192.0.2.25",
    ]


class DnsEvidence(StaticEvidence):
    """Report evidence in memory (tests/policy's seam), the posture from real DNS checks."""

    def posture(self, domain_id: int) -> PostureFacts | None:
        view = latest_posture(domain_id)
        return None if view is None else posture_from_view(view)


@pytest.fixture
def evidence(app: Flask) -> Iterator[DnsEvidence]:
    source = DnsEvidence()
    app.extensions[EXTENSION_KEY] = source
    try:
        yield source
    finally:
        app.extensions.pop(EXTENSION_KEY, None)


@pytest.fixture(scope="module")
def moto() -> Iterator[Route53Server]:
    """Route 53 on moto's server mode, one per test module."""
    server = Route53Server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cloudflare() -> Iterator[CloudflareStandIn]:
    """The local Cloudflare API stand-in, one per test module."""
    server = CloudflareStandIn()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def knot() -> Iterator[TsigKnot]:
    server = TsigKnot({DOMAIN: zone(DOMAIN, base_records())})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def check_now(nameserver: str, domain_id: int, at: datetime, **config: Any) -> None:
    """The DNS checker, pointed at ``nameserver``, checks the domain as of ``at``."""
    options = checker_options(
        {
            "MSP_DNS_NAMESERVERS": [nameserver],
            "MSP_DNS_TIMEOUT": 1.0,
            "MSP_DNS_RETRIES": 0,
            "MSP_DNS_PROBE_SELECTORS": False,
            **config,
        }
    )
    check_domain_now(domain_id, options=options, now=at)


@dataclass
class Wired:
    tenant: Tenant
    domain: Domain
    provider: DnsProvider


def wire(
    options: dict[str, str],
    *,
    kind: str = "rfc2136",
    name: str = DOMAIN,
    mode: str = "on_approval",
    zone_name: str | None = None,
    tenant: Tenant | None = None,
    **domain_fields: Any,
) -> Wired:
    """A tenant in ``mode`` whose domain ``name`` publishes through a ``kind`` account."""
    tenant = tenant or make_tenant()
    domain = make_domain(tenant, name, dkim_selectors=["google"], **domain_fields)
    key = current_app.config["MSP_ENCRYPTION_KEY"]
    provider = accounts.add_provider(tenant, f"{kind}-{domain.id}", kind, options, key)
    accounts.set_tenant_mode(tenant, mode)
    accounts.set_domain_provider(domain, provider.id, zone=zone_name)
    db.session.flush()
    return Wired(tenant, domain, provider)
