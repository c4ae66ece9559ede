"""Route 53 (moto's server, reached by boto3's ``endpoint_url``) and Cloudflare (a local v4 API
stand-in, reached by the SDK's ``base_url``) through the publisher: an approved change published
by the ``workers.publishing.publish_change`` job on a real RQ worker writes the record and keeps
the other TXT at the name and at the apex; a hand edit made after the DNS check blocks the
write; a provider error is retried, then alerts, and the stage never moves.

Neither moto nor the stand-in answers DNS queries, so the DNS checker cannot read them: the
check that the compare-and-swap compares against reads a knot serving the same records (the
client's public DNS as the checker would see it), and verification by the checker (the stage
moving after a write) is proven only against knot and PowerDNS (test_end_to_end.py,
test_powerdns_e2e.py). Here the stage is shown not to move on a write alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
from flask import Flask
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select

from msp.auth.models import AuditLog
from msp.db import utcnow
from msp.events import Event
from msp.extensions import db
from msp.policy import service as policy
from msp.publishing.models import Publication
from msp.queues import DEFAULT, enqueue
from tests.publishing.conftest import (
    DOMAIN,
    NOTE,
    SPF,
    VERIFICATION,
    DnsEvidence,
    check_now,
    wire,
)
from tests.publishing.servers import CloudflareStandIn, Route53Server, TsigKnot
from tests.publishing.test_end_to_end import issue, stage_of
from workers.publishing import publish_change

DMARC = f"_dmarc.{DOMAIN}"
HAND_EDIT = "v=DMARC1; p=none; rua=mailto:someone@elsewhere.test"


@dataclass
class Cloud:
    """One hosted DNS account holding the client's zone, read and edited behind the
    publisher's back (boto3 / the stand-in's store)."""

    kind: str
    options: dict[str, str]
    txt: Callable[[str], set[str]]
    hand_edit: Callable[[str, str], None]


def _route53(server: Route53Server) -> Cloud:
    client = boto3.client(
        "route53",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    created = client.create_hosted_zone(Name=f"{DOMAIN}.", CallerReference=str(uuid.uuid4()))
    zone_id = created["HostedZone"]["Id"]

    def upsert(name: str, values: list[str]) -> None:
        rrset = {
            "Name": f"{name}.",
            "Type": "TXT",
            "TTL": 300,
            "ResourceRecords": [{"Value": f'"{v}"'} for v in values],
        }
        client.change_resource_record_sets(
            HostedZoneId=zone_id,
            ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrset}]},
        )

    def txt(name: str) -> set[str]:
        rrsets = client.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        return {
            r["Value"].strip('"')
            for s in rrsets
            if s["Name"] == f"{name}." and s["Type"] == "TXT"
            for r in s["ResourceRecords"]
        }

    upsert(DOMAIN, [SPF, VERIFICATION])
    upsert(DMARC, [NOTE])
    options = {**server.options(), "hosted_zone_id": zone_id}
    return Cloud("route53", options, txt, lambda name, v: upsert(name, [*txt(name), v]))


def _cloudflare(server: CloudflareStandIn) -> Cloud:
    zone_id = server.add_zone(DOMAIN)
    server.add_record(zone_id, DOMAIN, "TXT", SPF)
    server.add_record(zone_id, DOMAIN, "TXT", VERIFICATION)
    server.add_record(zone_id, DMARC, "TXT", NOTE)
    options = {**server.options(), "zone_id": zone_id}

    def txt(name: str) -> set[str]:  # this test's zone only (the stand-in outlives it)
        rows = server.handler.records.values()
        return {
            r["content"]
            for r in rows
            if r["zone_id"] == zone_id and r["name"] == name and r["type"] == "TXT"
        }

    return Cloud(
        "cloudflare", options, txt, lambda name, v: server.add_record(zone_id, name, "TXT", v)
    )


@pytest.fixture(params=["route53", "cloudflare"])
def cloud(request: pytest.FixtureRequest) -> Cloud:
    if request.param == "route53":
        return _route53(request.getfixturevalue("moto"))
    return _cloudflare(request.getfixturevalue("cloudflare"))


def _issued(cloud: Cloud, knot: TsigKnot, options: dict[str, str] | None = None) -> Any:
    """The domain wired to the cloud account, checked (knot: the same records) and its first
    change approved and issued."""
    wired = wire(options or cloud.options, kind=cloud.kind)
    at = utcnow() - timedelta(minutes=10)
    check_now(knot.nameserver, wired.domain.id, at - timedelta(minutes=5))
    return wired, issue(wired.domain.id, at), at


def test_the_job_writes_the_record_through_the_cloud_provider_and_keeps_the_others(
    db_session: Any,
    knot: TsigKnot,
    evidence: DnsEvidence,
    cloud: Cloud,
    run_jobs: Callable[..., Any],
    redis_conn: Redis[bytes],
) -> None:
    wired, change, at = _issued(cloud, knot)
    enqueue(
        "workers.publishing.publish_change",
        queue=DEFAULT,
        job_id=f"publish-change-{change.id}",
        change_id=change.id,
    )
    db.session.commit()
    run_jobs((DEFAULT,))
    queue = Queue(DEFAULT, connection=redis_conn, serializer=JSONSerializer)
    assert queue.failed_job_registry.count == 0
    engine = change.records[0]["value"]
    assert cloud.txt(DMARC) == {NOTE, engine}
    assert cloud.txt(DOMAIN) == {SPF, VERIFICATION}  # the apex was never touched
    publication = db.session.scalars(select(Publication)).one()
    assert (publication.status, publication.provider) == (
        "written",
        f"{wired.provider.name} ({cloud.kind})",
    )
    assert publication.records[0]["rrset_before"] == [NOTE]
    audited = db.session.scalars(select(AuditLog).where(AuditLog.action == "dns.publish")).one()
    assert audited.changes["provider"] == publication.provider
    assert publish_change(change.id) == "written"  # safe to run twice: nothing more written
    assert db.session.scalars(select(Publication)).one().attempts == 1
    # the checker cannot read moto or the stand-in: written is not verified, the stage waits
    assert policy.advance_change(change.id, at + timedelta(minutes=3)) in {"wait", "reminder"}
    assert stage_of(wired.domain.id) == "none"


def test_a_hand_edit_in_the_cloud_console_blocks_the_write(
    db_session: Any, knot: TsigKnot, evidence: DnsEvidence, cloud: Cloud
) -> None:
    wired, change, _ = _issued(cloud, knot)
    cloud.hand_edit(DMARC, HAND_EDIT)
    assert publish_change(change.id) == "held"
    assert cloud.txt(DMARC) == {NOTE, HAND_EDIT}  # nothing written
    publication = db.session.scalars(select(Publication)).one()
    assert publication.status == "held" and HAND_EDIT in (publication.error or "")
    event = db.session.scalars(select(Event).where(Event.kind == "publishing.held")).one()
    assert event.domain_id == wired.domain.id and HAND_EDIT in event.payload["summary"]


def _broken(cloud: Cloud) -> dict[str, str]:
    """Route 53 whose endpoint refuses connections (moto checks no keys); Cloudflare with a
    token the API refuses (403)."""
    if cloud.kind == "route53":
        return {**cloud.options, "endpoint_url": "http://127.0.0.1:9"}
    return {**cloud.options, "api_token": "refused-token"}


def test_a_failing_cloud_provider_is_retried_then_alerts_and_the_stage_never_moves(
    app: Flask,
    db_session: Any,
    knot: TsigKnot,
    evidence: DnsEvidence,
    cloud: Cloud,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "MSP_PUBLISH_RETRY_SECONDS", [0, 0])  # due at once
    monkeypatch.setitem(app.config, "MSP_PUBLISH_TIMEOUT", 2.0)
    wired, change, at = _issued(cloud, knot, _broken(cloud))
    assert [publish_change(change.id) for _ in range(4)] == [
        "retrying",
        "retrying",
        "failed",
        "failed",
    ]
    publication = db.session.scalars(select(Publication)).one()
    assert (publication.status, publication.attempts) == ("failed", 3)
    kinds = db.session.scalars(
        select(Event.kind).where(Event.kind.like("publishing.%")).order_by(Event.id)
    ).all()
    assert kinds == ["publishing.retrying", "publishing.retrying", "publishing.failed"]
    alert = db.session.scalars(select(Event).where(Event.kind == "publishing.failed")).one()
    assert alert.severity == "error" and alert.domain_id == wired.domain.id
    assert cloud.txt(DMARC) == {NOTE}
    assert policy.advance_change(change.id, at + timedelta(hours=1)) in {"wait", "reminder"}
    assert stage_of(wired.domain.id) == "none"
