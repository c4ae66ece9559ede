"""The MTA-STS policy file of a delegated client, answered by Host header with the MX hosts
the last DNS check found; any other host (or a domain not delegated) gets 404."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from msp.db import utcnow
from msp.dns.service import latest_posture
from msp.extensions import db
from msp.publishing import accounts
from tests.factories import make_domain, make_tenant
from tests.publishing.conftest import DOMAIN, base_records, check_now
from tests.publishing.servers import TsigKnot, zone

PATH = "/.well-known/mta-sts.txt"


def test_the_policy_is_served_for_a_delegated_host_only(
    client: FlaskClient, knot: TsigKnot
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant, DOMAIN)
    other = make_domain(tenant, "not-delegated.test")
    accounts.set_domain_provider(domain, None, delegated=True, mta_sts_mode="enforce")
    accounts.set_domain_provider(other, None, mta_sts_mode="enforce")
    check_now(knot.nameserver, domain.id, utcnow() - timedelta(minutes=1))
    db.session.flush()
    served = client.get(PATH, headers={"Host": f"mta-sts.{DOMAIN}"})
    assert served.status_code == 200 and served.mimetype == "text/plain"
    assert served.get_data(as_text=True) == (
        f"version: STSv1\r\nmode: enforce\r\nmx: mx1.{DOMAIN}\r\nmax_age: 604800\r\n"
    )
    assert client.get(PATH, headers={"Host": "mta-sts.not-delegated.test"}).status_code == 404
    assert client.get(PATH, headers={"Host": f"www.{DOMAIN}"}).status_code == 404
    assert client.get(PATH, headers={"Host": "mta-sts.unknown.test"}).status_code == 404


def test_no_enforcing_policy_without_a_known_mx(db_session: Any, client: FlaskClient) -> None:
    domain = make_domain(make_tenant(), "no-check-yet.test")
    accounts.set_domain_provider(domain, None, delegated=True, mta_sts_mode="testing")
    db.session.flush()
    assert client.get(PATH, headers={"Host": "mta-sts.no-check-yet.test"}).status_code == 404


@pytest.fixture
def https_app(app: Flask, db_session: Any, tmp_path: Path) -> Iterator[tuple[int, str]]:
    """The app itself behind TLS on a free port, its certificate for mta-sts.DOMAIN signed by
    a test CA (what the Ingress and cert-manager do in the cluster)."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(f"mta-sts.{DOMAIN}").configure_cert(context)
    server = make_server("127.0.0.1", 0, app, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, str(ca_file)
    finally:
        server.shutdown()


def test_the_dns_checker_fetches_the_served_policy_over_https(
    https_app: tuple[int, str], tmp_path: Path
) -> None:
    port, ca_file = https_app
    records = [*base_records(), "mta-sts A 127.0.0.1", '_mta-sts TXT "v=STSv1; id=20261203"']
    with TsigKnot({DOMAIN: zone(DOMAIN, records)}) as knot:
        domain = make_domain(make_tenant(), DOMAIN)
        accounts.set_domain_provider(domain, None, delegated=True, mta_sts_mode="enforce")
        db.session.flush()
        at = utcnow()
        check_now(knot.nameserver, domain.id, at - timedelta(minutes=2))  # learns the MX
        first = latest_posture(domain.id)
        assert first is not None and first.mta_sts_mode is None  # port 443: nothing there
        https = {
            "MSP_DNS_HTTPS_ALLOW_PRIVATE": True,
            "MSP_DNS_HTTPS_CA_BUNDLE": ca_file,
            "MSP_DNS_HTTPS_PORT": port,
        }
        check_now(knot.nameserver, domain.id, at, **https)
    posture = latest_posture(domain.id)
    assert posture is not None and posture.mta_sts_mode == "enforce"
    assert not [f for f in posture.findings if f.startswith("mta_sts")]
