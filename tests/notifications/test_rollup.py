"""The MSP staff's weekly roll-up: one e-mail per staff member across their tenants (a
restricted member sees only the assigned ones), saying which clients moved and which are
stuck and why; sent once per person and week however often the sweep runs."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes, policy
from typing import Any

import pytest
from flask import Flask

from msp.auth.models import Membership
from msp.db import utcnow
from msp.extensions import db
from msp.queues import NOTIFICATIONS, enqueue
from tests.factories import make_domain, make_tenant, make_user
from tests.notifications.digest_world import seed_world
from tests.notifications.servers import MailSink


def _text(mail: Any) -> str:
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    body = parsed.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_staff_get_one_rollup_each_across_their_tenants(
    notify_config: dict[str, Any],
    mail_sink: MailSink,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    run_jobs: Callable[..., Any],
) -> None:
    monkeypatch.setitem(app.config, "MSP_DIGEST_HOUR", 0)
    world = seed_world(utcnow())
    quiet = make_tenant(name="Quiet Bakery")
    make_domain(quiet, "bakery.example")
    make_user("msp_admin", email="boss@msp.example")
    restricted = make_user("msp_staff", email="tech@msp.example", restricted=True)
    db.session.add(Membership(tenant_id=quiet.id, user_id=restricted.id, role="staff"))
    make_user("tenant_admin", world.tenant, email="client@contoso.example")  # not staff
    for _ in range(2):
        enqueue("workers.notifications.rollup_sweep", queue=NOTIFICATIONS)
        db.session.commit()
        run_jobs((NOTIFICATIONS,))
    mails = {rcpt[0]: mail for _, rcpt, mail in mail_sink.received}
    assert sorted(mails) == ["boss@msp.example", "tech@msp.example"]
    assert len(mail_sink.received) == 2
    boss = _text(mails["boss@msp.example"])
    moved = boss.split("Moved this week")[1].split("Stuck")[0]
    assert "Contoso Ltd: 1 domain moved to p=reject; 1 domain moved to quarantine" in moved
    assert "stuck: shop.contoso.example: Blocked: 3,3" in moved  # stuck, and why
    assert "Quiet Bakery" in boss
    tech = _text(mails["tech@msp.example"])
    assert "Quiet Bakery" in tech and "Contoso" not in tech
    assert mails["boss@msp.example"]["Subject"].endswith("1 moved, 0 stuck")


def test_a_rollup_claim_whose_job_was_lost_is_sent_later_once(
    notify_config: dict[str, Any], mail_sink: MailSink, run_jobs: Callable[..., Any]
) -> None:
    from datetime import timedelta

    from msp.notifications import rollup

    make_tenant(name="Lonely Co")
    make_user("msp_admin", email="boss@msp.example")
    [claim] = rollup.claim_week(utcnow())
    db.session.info.clear()  # its send job never reaches Redis
    db.session.commit()
    assert rollup.requeue_lost(utcnow()) == 0
    assert rollup.requeue_lost(utcnow() + timedelta(minutes=11)) == 1
    db.session.commit()
    run_jobs((NOTIFICATIONS,))
    assert [rcpt for _, rcpt, _ in mail_sink.received] == [["boss@msp.example"]]
    assert rollup.claim_week(utcnow()) == []  # claimed once per week
    assert rollup.requeue_lost(utcnow() + timedelta(minutes=11)) == 0 and claim
