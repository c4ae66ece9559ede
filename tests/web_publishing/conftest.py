"""Fixtures of the publishing pages' tests: a knot per test that serves the client's zone and
the MSP's hosted zone and accepts TSIG-signed updates (the provider writes there, and the DNS
checker and the verification lookups read there), the app pointed at it, and a tenant with an
admin, a viewer and a domain wired to an RFC 2136 account on that knot."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient

from msp.db import utcnow
from msp.domains.models import Domain
from msp.extensions import db
from msp.policy.models import PolicyChange
from msp.publishing import accounts
from msp.publishing.models import DnsProvider
from msp.publishing.providers import Account, RRset, get_provider
from msp.tenancy.models import Tenant
from tests.factories import make_domain, make_tenant, make_user
from tests.publishing.conftest import DnsEvidence, base_records, check_now
from tests.publishing.servers import TsigKnot, zone
from tests.publishing.test_end_to_end import issue
from tests.web.support import login

DOMAIN = "pub-e2e.test"  # base_records() spells its values for this name
VERIFY = "verify-web.test"
HOSTED = "records.msp.test"


@pytest.fixture
def knot() -> Iterator[TsigKnot]:
    zones = {
        DOMAIN: zone(DOMAIN, base_records()),
        VERIFY: zone(VERIFY, ['@ TXT "v=spf1 -all"']),
        HOSTED: zone(HOSTED, ['@ TXT "msp"']),
    }
    server = TsigKnot(zones)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pointed(app: Flask, knot: TsigKnot, monkeypatch: pytest.MonkeyPatch) -> TsigKnot:
    """The app's DNS lookups (checks, verification, delegation) go to ``knot``."""
    monkeypatch.setitem(app.config, "MSP_DNS_NAMESERVERS", [knot.nameserver])
    monkeypatch.setitem(app.config, "MSP_DNS_TIMEOUT", 1.0)
    monkeypatch.setitem(app.config, "MSP_DNS_RETRIES", 0)
    monkeypatch.setitem(app.config, "MSP_DNS_PROBE_SELECTORS", False)
    return knot


@pytest.fixture
def hosted(app: Flask, pointed: TsigKnot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "MSP_HOSTED_ZONE", HOSTED)
    monkeypatch.setitem(app.config, "MSP_HOSTED_PROVIDER_KIND", "rfc2136")
    monkeypatch.setitem(app.config, "MSP_HOSTED_PROVIDER_OPTIONS", pointed.options())


@pytest.fixture
def evidence(app: Flask) -> Iterator[DnsEvidence]:
    from msp.policy.loader import EXTENSION_KEY

    source = DnsEvidence()
    app.extensions[EXTENSION_KEY] = source
    try:
        yield source
    finally:
        app.extensions.pop(EXTENSION_KEY, None)


@dataclass
class Client:
    """A tenant of the publishing page tests, its people and its domain."""

    tenant: Tenant
    domain: Domain
    admin: str
    viewer: str


@pytest.fixture
def acme(db_session: Any) -> Client:
    tenant = make_tenant(name="Acme Publishing", timezone="Europe/Berlin")
    domain = make_domain(tenant, DOMAIN, dkim_selectors=["google"])
    admin = make_user("tenant_admin", tenant).email
    viewer = make_user("tenant_viewer", tenant).email
    db.session.flush()
    return Client(tenant, domain, admin, viewer)


def add_account(client: Client, knot: TsigKnot, name: str = "Acme DNS") -> DnsProvider:
    key = current_app.config["MSP_ENCRYPTION_KEY"]
    row = accounts.add_provider(client.tenant, name, "rfc2136", knot.options(), key)
    db.session.flush()
    return row


def issued_change(client: Client, knot: TsigKnot, mode: str = "on_approval") -> PolicyChange:
    """The domain wired to the knot account, checked, and its first step approved and issued
    (status ``published``: waiting to be written)."""
    row = add_account(client, knot)
    accounts.set_tenant_mode(client.tenant, mode)
    accounts.set_domain_provider(client.domain, row.id)
    at = utcnow()
    check_now(knot.nameserver, client.domain.id, at - timedelta(minutes=5))
    change = issue(client.domain.id, at)
    db.session.flush()
    return change


def edit_by_hand(knot: TsigKnot, origin: str, name: str, value: str, rtype: str = "TXT") -> None:
    """Someone adds ``value`` at ``name`` in the client's DNS (not through the engine)."""
    provider = get_provider("rfc2136")
    plain, secret = provider.split(knot.options())
    account = Account(plain, secret, origin, 2)
    current = provider.read(account, name, rtype)
    provider.write(account, current, RRset(name, rtype, 300, (*current.values, value)))


def undo_by_hand(knot: TsigKnot, origin: str, name: str, value: str) -> None:
    """Someone takes ``value`` out again at ``name`` (the hand edit undone)."""
    provider = get_provider("rfc2136")
    plain, secret = provider.split(knot.options())
    account = Account(plain, secret, origin, 2)
    current = provider.read(account, name, "TXT")
    kept = tuple(v for v in current.values if v != value)
    provider.write(account, current, RRset(name, "TXT", 300, kept))


def signed_in(client: FlaskClient, email: str) -> FlaskClient:
    login(client, email)
    return client
