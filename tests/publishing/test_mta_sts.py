"""The MTA-STS policy file of a delegated client, answered by Host header with the MX hosts
the last DNS check found; any other host (or a domain not delegated) gets 404."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

from msp.db import utcnow
from msp.extensions import db
from msp.publishing import accounts
from tests.factories import make_domain, make_tenant
from tests.publishing.conftest import DOMAIN, check_now
from tests.publishing.servers import TsigKnot

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
