"""The loop through PowerDNS's HTTP API: written by the provider, read back by the DNS checker
from the same pdns_server, verified by policy; a hand edit through the API blocks the write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from msp.db import utcnow
from msp.extensions import db
from msp.policy import service as policy
from msp.publishing import service
from msp.publishing.models import Publication
from tests.dns.world import keys
from tests.publishing.conftest import SPF, DnsEvidence, check_now, wire
from tests.publishing.servers import PowerDns
from tests.publishing.test_end_to_end import issue, stage_of

DOMAIN = "pdns-e2e.test"
NOTE = "owner=it-dept"


@pytest.fixture
def pdns() -> Iterator[PowerDns]:
    server = PowerDns().start()
    try:
        server.add_zone(
            DOMAIN,
            [
                (DOMAIN, "TXT", [f'"{SPF}"']),
                (f"_dmarc.{DOMAIN}", "TXT", [f'"{NOTE}"']),
                (
                    f"google._domainkey.{DOMAIN}",
                    "TXT",
                    [f'"v=DKIM1; k=rsa; p={keys()["rsa2048"]}"'],
                ),
            ],
        )
        yield server
    finally:
        server.stop()


def _dmarc_values(pdns: PowerDns) -> set[str]:
    from msp.publishing.providers import Account, get_provider

    provider = get_provider("powerdns")
    plain, secret = provider.split(pdns.options())
    return set(provider.read(Account(plain, secret, DOMAIN), f"_dmarc.{DOMAIN}", "TXT").values)


def test_written_through_the_api_verified_from_the_same_server(
    db_session: Any, pdns: PowerDns, evidence: DnsEvidence
) -> None:
    wired = wire(pdns.options(), kind="powerdns", name=DOMAIN)
    at = utcnow()
    check_now(pdns.nameserver, wired.domain.id, at - timedelta(minutes=5))
    change = issue(wired.domain.id, at)
    assert service.publish_change(change.id, at) == "written"
    assert _dmarc_values(pdns) == {NOTE, change.records[0]["value"]}
    check_now(pdns.nameserver, wired.domain.id, at + timedelta(minutes=1))
    assert policy.advance_change(change.id, at + timedelta(minutes=2)) == "verified"
    assert stage_of(wired.domain.id) == "monitor"


def test_a_hand_edit_through_the_api_blocks_the_write(
    db_session: Any, pdns: PowerDns, evidence: DnsEvidence
) -> None:
    wired = wire(pdns.options(), kind="powerdns", name=DOMAIN)
    at = utcnow()
    check_now(pdns.nameserver, wired.domain.id, at - timedelta(minutes=5))
    change = issue(wired.domain.id, at)
    edit = "v=DMARC1; p=none; rua=mailto:hand@elsewhere.test"
    pdns.set_rrset(DOMAIN, f"_dmarc.{DOMAIN}", "TXT", [f'"{NOTE}"', f'"{edit}"'])
    assert service.publish_change(change.id, at) == "held"
    assert _dmarc_values(pdns) == {NOTE, edit}
    assert db.session.scalars(select(Publication)).one().status == "held"
