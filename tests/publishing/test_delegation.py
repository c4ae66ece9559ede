"""A delegated domain: the client published ``_dmarc CNAME <domain>._dmarc.<hosted zone>``
once; the publisher writes only into the MSP's hosted zone, and the checker follows the CNAME
to verify."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import dns.message
import dns.query
import pytest
from flask import Flask, current_app
from sqlalchemy import select

from msp.db import utcnow
from msp.extensions import db
from msp.publishing import accounts, service
from msp.publishing.models import Publication
from tests.factories import make_domain, make_tenant
from tests.publishing.conftest import DnsEvidence, check_now
from tests.publishing.servers import TsigKnot, zone
from tests.publishing.test_end_to_end import issue, stage_of, txt_at

CLIENT = "client-deleg.test"
HOSTED = "records.msp.test"
TARGET = f"{CLIENT}._dmarc.{HOSTED}"


@pytest.fixture
def knot() -> Iterator[TsigKnot]:
    client = [
        f"_dmarc CNAME {TARGET}.",
        f"_mta-sts CNAME {CLIENT}._mta-sts.{HOSTED}.",
        f"_smtp._tls CNAME {CLIENT}._smtp._tls.{HOSTED}.",
        '@ TXT "v=spf1 ip4:192.0.2.0/24 -all"',
        "@ MX 10 mx1",
        "mx1 A 192.0.2.25",
    ]
    server = TsigKnot({CLIENT: zone(CLIENT, client), HOSTED: zone(HOSTED, ['@ TXT "msp"'])})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def serial(knot: TsigKnot, origin: str) -> int:
    query = dns.message.make_query(f"{origin}.", "SOA")
    answer = dns.query.tcp(query, "127.0.0.1", port=knot.port, timeout=2).answer
    return int(answer[0][0].serial)


@pytest.fixture
def hosted(app: Flask, knot: TsigKnot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "MSP_HOSTED_ZONE", HOSTED)
    monkeypatch.setitem(app.config, "MSP_HOSTED_PROVIDER_KIND", "rfc2136")
    monkeypatch.setitem(app.config, "MSP_HOSTED_PROVIDER_OPTIONS", knot.options())
    # the delegation check asks the same resolvers as the DNS checks: here, knot
    monkeypatch.setitem(app.config, "MSP_DNS_NAMESERVERS", [knot.nameserver])
    monkeypatch.setitem(app.config, "MSP_DNS_TIMEOUT", 1.0)
    monkeypatch.setitem(app.config, "MSP_DNS_RETRIES", 0)


def test_onboarding_lists_the_cnames_to_publish(db_session: Any, hosted: None) -> None:
    domain = make_domain(make_tenant(), CLIENT)
    records = service.delegation(domain)["records"]
    assert records[0] == {"name": f"_dmarc.{CLIENT}", "type": "CNAME", "value": f"{TARGET}."}
    assert [r["name"] for r in records] == [
        f"_dmarc.{CLIENT}",
        f"_smtp._tls.{CLIENT}",
        f"_mta-sts.{CLIENT}",
        f"mta-sts.{CLIENT}",
    ]
    web_host = urlparse(current_app.config["MSP_BASE_URL"]).hostname
    assert records[-1]["value"] == f"{web_host}."


def test_a_delegated_domain_is_escalated_by_writing_only_into_the_msp_zone(
    db_session: Any, knot: TsigKnot, evidence: DnsEvidence, hosted: None
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant, CLIENT)
    accounts.set_tenant_mode(tenant, "on_approval")
    accounts.set_domain_provider(domain, None, delegated=True)
    db.session.flush()
    at = utcnow()
    check_now(knot.nameserver, domain.id, at - timedelta(minutes=5))
    change = issue(domain.id, at)
    assert service.publish_change(change.id, at) == "written"
    assert txt_at(knot, TARGET) == {change.records[0]["value"]}
    assert (serial(knot, CLIENT), serial(knot, HOSTED)) == (1, 2)  # one update, in ours
    publication = db.session.scalars(select(Publication)).one()
    assert (publication.zone, publication.provider) == (HOSTED, f"hosted:{HOSTED}")
    assert publication.records[0]["written_at"] == TARGET
    check_now(knot.nameserver, domain.id, at + timedelta(minutes=1))
    from msp.policy import service as policy

    assert policy.advance_change(change.id, at + timedelta(minutes=2)) == "verified"
    assert stage_of(domain.id) == "monitor"


def test_the_api_shows_the_onboarding_cnames(client: Any, hosted: None) -> None:
    from tests.factories import token_caller

    tenant = make_tenant()
    domain = make_domain(tenant, CLIENT)
    viewer = token_caller("tenant_viewer", tenant)
    answer = client.get(f"/api/v1/domains/{domain.id}/delegation", headers=viewer.headers)
    assert answer.status_code == 200
    records = answer.get_json()["records"]
    assert records[0]["value"] == f"{TARGET}."
    # the client's zone (knot) has all three CNAMEs
    assert [(r["check"], r["found"]) for r in records[:3]] == [
        ("ok", r["value"].rstrip(".")) for r in records[:3]
    ]
    assert records[3]["name"] == f"mta-sts.{CLIENT}" and records[3]["check"] == ""


def test_transport_records_follow_the_served_policy_into_the_msp_zone(
    db_session: Any, knot: TsigKnot, hosted: None
) -> None:
    from msp.publishing import hosted as transport
    from msp.publishing.mta_sts import policy_text

    domain = make_domain(make_tenant(), CLIENT)
    accounts.set_domain_provider(domain, None, delegated=True, mta_sts_mode="enforce")
    check_now(knot.nameserver, domain.id, utcnow())
    db.session.flush()
    assert transport.transport_domain_ids() == [domain.id]
    written = transport.publish_transport(domain.id)
    assert [w["name"] for w in written] == [
        f"{CLIENT}._mta-sts.{HOSTED}",
        f"{CLIENT}._smtp._tls.{HOSTED}",
    ]
    text = policy_text(f"mta-sts.{CLIENT}")
    assert text is not None
    sts = f"v=STSv1; id={transport.policy_id(text)}"
    assert txt_at(knot, f"{CLIENT}._mta-sts.{HOSTED}") == {sts}
    assert next(iter(txt_at(knot, f"{CLIENT}._smtp._tls.{HOSTED}"))).startswith("v=TLSRPTv1; rua=")
    assert transport.publish_transport(domain.id) == []  # unchanged policy: nothing written
    accounts.set_domain_provider(domain, None, delegated=True, mta_sts_mode="testing")
    assert [w["name"] for w in transport.publish_transport(domain.id)] == [
        f"{CLIENT}._mta-sts.{HOSTED}"
    ]


def _add_cname(knot: TsigKnot, name: str, value: str) -> None:
    """The client publishes its CNAME (a signed dynamic update of the client's zone)."""
    import dns.tsigkeyring
    import dns.update

    options = knot.options()
    keyring = dns.tsigkeyring.from_text({options["tsig_name"]: options["tsig_secret"]})
    update = dns.update.UpdateMessage(f"{CLIENT}.", keyring=keyring, keyalgorithm="hmac-sha256")
    update.add(f"{name}.", 300, "CNAME", value)
    assert dns.query.tcp(update, "127.0.0.1", port=knot.port, timeout=2).rcode() == 0


@pytest.fixture
def undelegated() -> Iterator[TsigKnot]:
    """The client has not published its _dmarc CNAME yet (nor any DMARC record)."""
    client = [
        '@ TXT "v=spf1 ip4:192.0.2.0/24 -all"',
        "@ MX 10 mx1",
        "mx1 A 192.0.2.25",
    ]
    server = TsigKnot({CLIENT: zone(CLIENT, client), HOSTED: zone(HOSTED, ['@ TXT "msp"'])})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_publishing_waits_for_the_clients_cname_and_says_which_and_its_value(
    app: Flask,
    db_session: Any,
    undelegated: TsigKnot,
    evidence: DnsEvidence,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from msp.events import Event

    knot = undelegated
    for key, value in {
        "MSP_HOSTED_ZONE": HOSTED,
        "MSP_HOSTED_PROVIDER_KIND": "rfc2136",
        "MSP_HOSTED_PROVIDER_OPTIONS": knot.options(),
        "MSP_DNS_NAMESERVERS": [knot.nameserver],
        "MSP_DNS_TIMEOUT": 1.0,
        "MSP_DNS_RETRIES": 0,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    tenant = make_tenant()
    domain = make_domain(tenant, CLIENT)
    accounts.set_tenant_mode(tenant, "on_approval")
    accounts.set_domain_provider(domain, None, delegated=True)
    db.session.flush()
    at = utcnow()
    check_now(knot.nameserver, domain.id, at - timedelta(minutes=5))
    change = issue(domain.id, at)
    assert service.publish_change(change.id, at) == "waiting"
    assert serial(knot, HOSTED) == 1  # nothing written into the MSP's zone
    publication = db.session.scalars(select(Publication)).one()
    assert publication.status == "waiting" and publication.attempts == 0
    assert publication.next_attempt_at == at + service.WAIT_FOR_CNAME
    event = db.session.scalars(select(Event).where(Event.kind == "publishing.waiting")).one()
    exact = f"_dmarc.{CLIENT} CNAME {TARGET}."
    assert event.severity == "warning" and exact in event.payload["summary"]
    assert event.payload["missing"][0] == {
        "name": f"_dmarc.{CLIENT}",
        "type": "CNAME",
        "value": f"{TARGET}.",
        "found": None,
        "ok": False,
        "problem": f"_dmarc.{CLIENT} has no CNAME yet: publish {exact}",
    }
    status = {r["name"]: r for r in service.delegation_status(domain)["records"]}
    assert (status[f"_dmarc.{CLIENT}"]["check"], status[f"_dmarc.{CLIENT}"]["found"]) == (
        "missing",
        "",
    )
    tls = status[f"_smtp._tls.{CLIENT}"]
    assert tls["check"] == "missing"
    assert f"publish _smtp._tls.{CLIENT} CNAME {CLIENT}._smtp._tls.{HOSTED}." in tls["problem"]
    assert service.publish_change(change.id, at + timedelta(minutes=1)) == "wait"
    later = at + service.WAIT_FOR_CNAME
    assert service.due_change_ids(later) == [change.id]
    assert service.publish_change(change.id, later) == "waiting"  # still missing: no new event
    assert db.session.scalars(select(Event).where(Event.kind == "publishing.waiting")).all() == [
        event
    ]
    assert stage_of(domain.id) == "none"
    # the client publishes the CNAME: the next look writes into the MSP's zone only
    client_serial = serial(knot, CLIENT)
    _add_cname(knot, f"_dmarc.{CLIENT}", f"{TARGET}.")
    later += service.WAIT_FOR_CNAME
    assert service.publish_change(change.id, later) == "written"
    assert txt_at(knot, TARGET) == {change.records[0]["value"]}
    assert serial(knot, CLIENT) == client_serial + 1  # only the client's own CNAME update
    check_now(knot.nameserver, domain.id, later + timedelta(minutes=1))
    from msp.policy import service as policy

    assert policy.advance_change(change.id, later + timedelta(minutes=2)) == "verified"
    assert stage_of(domain.id) == "monitor"


def test_transport_records_wait_for_their_cnames_and_say_so_once(
    app: Flask,
    db_session: Any,
    undelegated: TsigKnot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from msp.events import Event
    from msp.publishing import hosted as transport

    knot = undelegated
    for key, value in {
        "MSP_HOSTED_ZONE": HOSTED,
        "MSP_HOSTED_PROVIDER_KIND": "rfc2136",
        "MSP_HOSTED_PROVIDER_OPTIONS": knot.options(),
        "MSP_DNS_NAMESERVERS": [knot.nameserver],
        "MSP_DNS_TIMEOUT": 1.0,
        "MSP_DNS_RETRIES": 0,
    }.items():
        monkeypatch.setitem(app.config, key, value)
    domain = make_domain(make_tenant(), CLIENT)
    accounts.set_domain_provider(domain, None, delegated=True, mta_sts_mode="enforce")
    check_now(knot.nameserver, domain.id, utcnow())
    db.session.flush()
    assert transport.publish_transport(domain.id) == []
    assert serial(knot, HOSTED) == 1  # nothing written into the MSP's zone
    (event,) = db.session.scalars(select(Event).where(Event.kind == "publishing.waiting")).all()
    for label in ("_mta-sts", "_smtp._tls"):
        exact = f"publish {label}.{CLIENT} CNAME {CLIENT}.{label}.{HOSTED}."
        assert exact in event.payload["summary"]
    assert transport.publish_transport(domain.id) == []  # the same still missing: no new event
    assert (
        len(db.session.scalars(select(Event).where(Event.kind == "publishing.waiting")).all()) == 1
    )
    _add_cname(knot, f"_mta-sts.{CLIENT}", f"{CLIENT}._mta-sts.{HOSTED}.")
    written = transport.publish_transport(domain.id)
    assert [w["name"] for w in written] == [f"{CLIENT}._mta-sts.{HOSTED}"]
    events = db.session.scalars(
        select(Event).where(Event.kind == "publishing.waiting").order_by(Event.id)
    ).all()
    assert len(events) == 2 and "_mta-sts" not in events[1].payload["summary"]
    assert f"_smtp._tls.{CLIENT}" in events[1].payload["summary"]
