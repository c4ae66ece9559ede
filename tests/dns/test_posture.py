"""Posture runs on PostgreSQL: drift and finding lifecycle with events, the API, and the sweep
and check jobs through a real RQ worker, all against a knot zone the tests change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select

from msp.db import utcnow
from msp.dns import service
from msp.dns.models import PostureFinding, PostureRun, RecordDrift
from msp.dns.options import CheckOptions
from msp.dns.resolver import Nameserver, ResolverSettings
from msp.events import Event
from msp.extensions import db
from msp.queues import CHECKS
from tests.dns.world import T, keys
from tests.factories import make_domain, make_tenant, token_caller
from tests.support.dns_server import KnotServer, zone

GOOD_SPF = "v=spf1 ip4:192.0.2.0/24 -all"


def drift_zone(
    serial: int,
    spf: str = GOOD_SPF,
    dmarc: str = "v=DMARC1; p=none; rua=mailto:d@drift.test",
    extra: tuple[str, ...] = (),
) -> str:
    return zone(
        "drift.test",
        [
            "@ MX 10 mx",
            "mx A 192.0.2.1",
            T("@", spf),
            T("_dmarc", dmarc),
            T("sel._domainkey", f"v=DKIM1; p={keys()['rsa2048']}"),
            *extra,
        ],
        serial=serial,
    )


@pytest.fixture
def knot() -> Iterator[KnotServer]:
    with KnotServer({"drift.test": drift_zone(1), "test": zone("test", [])}) as server:
        yield server


@pytest.fixture
def options(knot: KnotServer) -> CheckOptions:
    return CheckOptions(
        resolver=ResolverSettings((Nameserver.parse(knot.nameserver),), timeout=1.0, retries=1)
    )


@pytest.fixture
def tenant(db_session: Any) -> Any:
    return make_tenant()


@pytest.fixture
def domain(tenant: Any) -> Any:
    return make_domain(tenant, "drift.test", dkim_selectors=["sel"])


def _events(kind: str) -> list[Event]:
    return list(db.session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


def test_a_check_stores_the_run_and_the_view_the_policy_engine_reads(
    domain: Any, options: CheckOptions
) -> None:
    view = service.check_domain_now(domain.id, options=options)
    assert view.dmarc_record == "v=DMARC1; p=none; rua=mailto:d@drift.test"
    assert view.dmarc_tags["p"] == "none" and view.dmarc_policy == "none"
    assert (view.spf_valid, view.spf_dns_lookups) == (True, 0)
    assert view.dkim_selectors == {"sel": True}
    assert "dmarc_policy_none" in view.findings
    assert service.latest_posture(domain.id) == view
    assert domain.next_check_at is not None and domain.next_check_at > utcnow()


def test_reported_selectors_are_checked_beside_the_declared_ones(
    domain: Any, options: CheckOptions
) -> None:
    view = service.check_domain_now(domain.id, reported_selectors=["fromreports"], options=options)
    assert view.dkim_selectors == {"sel": True, "fromreports": None}
    assert view.result["dkim"]["fromreports"]["source"] == "reported"


def test_a_changed_record_is_drift_with_old_and_new_value_and_an_event(
    domain: Any, options: CheckOptions, knot: KnotServer
) -> None:
    first = service.check_domain_now(domain.id, options=options)
    knot.set_zone("drift.test", drift_zone(2, spf="v=spf1 ip4:198.51.100.0/24 -all"))
    knot.reload()
    second = service.check_domain_now(domain.id, options=options)
    drifts = list(db.session.scalars(select(RecordDrift).where(RecordDrift.domain_id == domain.id)))
    assert [(d.key, d.old_value, d.new_value, d.run_id) for d in drifts] == [
        ("spf", GOOD_SPF, "v=spf1 ip4:198.51.100.0/24 -all", second.run_id)
    ]
    events = _events("dns.drift")
    assert [e.payload["key"] for e in events] == ["spf"] and events[0].domain_id == domain.id
    assert first.run_id != second.run_id


def test_a_removed_selector_is_drift_to_nothing(
    domain: Any, options: CheckOptions, knot: KnotServer
) -> None:
    service.check_domain_now(domain.id, options=options)
    text = drift_zone(2).replace("sel._domainkey", "other._domainkey")
    knot.set_zone("drift.test", text)
    knot.reload()
    service.check_domain_now(domain.id, options=options)
    drift = db.session.scalars(select(RecordDrift)).one()
    assert (drift.key, drift.new_value) == ("dkim:sel", None)


def test_findings_open_once_while_they_last_and_close_when_fixed(
    domain: Any, options: CheckOptions, knot: KnotServer
) -> None:
    service.check_domain_now(domain.id, options=options)
    service.check_domain_now(domain.id, options=options)
    opened = [e.payload["code"] for e in _events("dns.finding.opened")]
    assert opened.count("dmarc_policy_none") == 1
    knot.set_zone("drift.test", drift_zone(2, dmarc="v=DMARC1; p=reject; rua=mailto:d@drift.test"))
    knot.reload()
    service.check_domain_now(domain.id, options=options)
    closed = [e.payload["code"] for e in _events("dns.finding.closed")]
    assert closed == ["dmarc_policy_none"]
    row = db.session.scalars(
        select(PostureFinding).where(PostureFinding.code == "dmarc_policy_none")
    ).one()
    assert row.closed_at is not None and row.closed_run_id is not None


def test_a_dns_failure_neither_drifts_nor_closes_findings(
    domain: Any, options: CheckOptions
) -> None:
    service.check_domain_now(domain.id, options=options)
    silent = replace(
        options, resolver=ResolverSettings((Nameserver("127.0.0.1", 9),), timeout=0.2, retries=0)
    )
    view = service.check_domain_now(domain.id, options=silent)
    assert "dns_lookup_failed" in view.findings
    assert _events("dns.drift") == [] and _events("dns.finding.closed") == []
    assert not any(e.payload["code"] == "dns_lookup_failed" for e in _events("dns.finding.opened"))


def test_changed_mta_sts_policy_without_a_new_id_is_flagged() -> None:
    drifts = [RecordDrift(key="mta_sts_policy", old_value="mode=testing", new_value="mode=enforce")]
    found = service._id_not_changed(drifts)
    assert found is not None and found.code == "mta_sts_id_not_changed"
    drifts.append(RecordDrift(key="mta_sts", old_value="v=STSv1; id=1", new_value="v=STSv1; id=2"))
    assert service._id_not_changed(drifts) is None


def test_api_posture_history_and_check_now(
    app: Flask,
    client: FlaskClient,
    tenant: Any,
    domain: Any,
    knot: KnotServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "MSP_DNS_NAMESERVERS", [knot.nameserver])
    caller = token_caller("tenant_admin", tenant)
    base = f"/api/v1/domains/{domain.id}"
    assert client.get(f"{base}/posture", headers=caller.headers).status_code == 404
    posted = client.post(f"{base}/check", headers=caller.headers)
    assert posted.status_code == 201, posted.get_data(as_text=True)
    body = client.get(f"{base}/posture", headers=caller.headers).get_json()
    assert body["result"]["dmarc"]["policy_applied"]["policy"] == "none"
    assert {f["code"] for f in body["open_findings"]} >= {"dmarc_policy_none"}
    assert set(body["result"]) >= {
        "domain",
        "spf",
        "dmarc",
        "dkim",
        "mx",
        "mta_sts",
        "tls_rpt",
        "bimi",
        "findings",
        "grade",
    }
    history = client.get(f"{base}/posture/history", headers=caller.headers)
    assert history.status_code == 200 and len(history.get_json()) == 1
    assert history.get_json()[0]["grade"] == body["grade"]


def test_viewer_may_read_but_not_trigger_a_check(
    client: FlaskClient, tenant: Any, domain: Any
) -> None:
    viewer = token_caller("tenant_viewer", tenant)
    response = client.post(f"/api/v1/domains/{domain.id}/check", headers=viewer.headers)
    assert response.status_code == 403


def test_sweep_enqueues_due_domains_once_and_the_worker_stores_the_run(
    app: Flask,
    tenant: Any,
    domain: Any,
    knot: KnotServer,
    redis_conn: Redis,
    run_jobs: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "MSP_DNS_NAMESERVERS", [knot.nameserver])
    later = make_domain(tenant, "later.drift.test")
    later.next_check_at = utcnow() + timedelta(hours=1)
    db.session.commit()
    for _ in range(2):
        assert service.sweep() == [domain.id]
        db.session.commit()
    queue = Queue(CHECKS, connection=redis_conn, serializer=JSONSerializer)
    assert queue.job_ids == [service.check_job_id(domain.id)]
    run_jobs((CHECKS,))
    assert queue.failed_job_registry.count == 0
    runs = list(db.session.scalars(select(PostureRun).where(PostureRun.domain_id == domain.id)))
    assert len(runs) == 1 and runs[0].spf_status == "valid"
    assert service.due_domain_ids(utcnow(), 10) == []


def test_check_interval_is_the_domains_own_but_never_shorter_than_the_plan(
    app: Flask, tenant: Any, domain: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert service.interval_minutes(domain) == 360  # the default setting
    domain.check_interval_minutes = 5
    assert service.interval_minutes(domain) == 15  # no billing: the unlimited allowance
    monkeypatch.setitem(app.config, "MSP_STRIPE_API_KEY", "sk_test_x")
    tenant.plan = "trial"
    assert service.interval_minutes(domain) == 24 * 60


def test_next_check_is_jittered_within_the_setting(app: Flask, domain: Any) -> None:
    import random

    now = utcnow()
    service.schedule_next(domain, now, random.Random(1))
    delay = (domain.next_check_at - now).total_seconds() / 60
    assert 360 <= delay <= 360 * 1.1
