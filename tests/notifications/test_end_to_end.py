"""From a real DNS check to the people who fix things: the DNS area checks a zone served by
knot, its events are routed (drift to sysadmins, MX trouble also to network) and delivered by
a real RQ worker to a real SMTP server and webhook receiver; the digest shows the posture."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from msp.db import utcnow
from msp.dns import service as dns_service
from msp.dns.options import CheckOptions
from msp.dns.resolver import Nameserver, ResolverSettings
from msp.extensions import db
from msp.notifications.digest import build_digest
from msp.notifications.digest_render import render_digest
from msp.notifications.settings import Brand
from msp.queues import NOTIFICATIONS, enqueue
from tests.factories import make_domain, make_tenant
from tests.notifications.helpers import email_endpoint, webhook_endpoint
from tests.notifications.servers import Hook, MailSink
from tests.support.dns_server import KnotServer, txt, zone

SPF = "v=spf1 ip4:192.0.2.0/24 -all"


def _zone(serial: int, spf: str) -> str:
    return zone(
        "e2e.test",
        [
            "@ MX 10 mx",  # mx.e2e.test has no address: an MX finding
            f"@ TXT {txt(spf)}",
            f"_dmarc TXT {txt('v=DMARC1; p=none; rua=mailto:d@e2e.test')}",
        ],
        serial=serial,
    )


@pytest.fixture
def knot() -> Iterator[KnotServer]:
    with KnotServer({"e2e.test": _zone(1, SPF), "test": zone("test", [])}) as server:
        yield server


def test_dns_drift_and_mx_findings_reach_the_right_teams(
    notify_config: dict[str, Any],
    mail_sink: MailSink,
    hooks: Callable[[], Hook],
    knot: KnotServer,
    run_jobs: Callable[..., Any],
) -> None:
    options = CheckOptions(
        resolver=ResolverSettings((Nameserver.parse(knot.nameserver),), timeout=1.0, retries=1)
    )
    tenant = make_tenant(name="E2E Corp")
    domain = make_domain(tenant, "e2e.test")
    network = hooks()
    email_endpoint(tenant, "sysadmins", "ops@e2e.example")
    webhook_endpoint(tenant, "network", network.url)
    first = dns_service.check_domain_now(domain.id, options=options)
    knot.set_zone("e2e.test", _zone(2, "v=spf1 ip4:198.51.100.0/24 -all"))
    knot.reload()
    dns_service.check_domain_now(domain.id, options=options)
    enqueue("workers.notifications.dispatch_events", queue=NOTIFICATIONS)
    db.session.commit()
    run_jobs((NOTIFICATIONS,))

    subjects = [mail["Subject"] for _, _, mail in mail_sink.received]
    assert "[WARNING] DNS records changed: e2e.test" in subjects
    drift = next(m for _, _, m in mail_sink.received if "changed" in m["Subject"])
    assert "198.51.100.0/24" in drift.get_payload(decode=True).decode()
    codes = {json.loads(body)["event"]["payload"].get("code") for _, body in network.received}
    mx_codes = {c for c in first.findings if c.startswith("mx_")}
    assert mx_codes and mx_codes <= codes  # the network team hears about MX trouble
    assert not any(c and c.startswith("dmarc_") for c in codes)  # and not about DMARC

    posture = dns_service.latest_posture(domain.id)
    assert posture is not None
    digest = build_digest(tenant, utcnow(), "https://msp.example")
    text = render_digest(digest, Brand(), chart=False).text
    assert f"e2e.test - grade {posture.grade}, " in text  # the real check's grade
    assert dict(digest.headline.counts)["monitoring"] == 1  # p=none is published
    assert any(c.what == "record change" and c.domain == "e2e.test" for c in digest.changes)
