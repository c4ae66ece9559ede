"""The weekly digest on the wire: sent by the worker to the real SMTP server, one message per
recipient however often the jobs run, parsed back (text and HTML, the chart inline by
Content-ID, the one-click unsubscribe headers); unsubscribing really stops it; a failed send is
retried without a second copy; previews send nothing."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from msp.db import utcnow
from msp.extensions import db
from msp.notifications import cli, digest_service
from msp.notifications.channels.webhook import verify
from msp.notifications.digest_render import CHART_CID, LOGO_CID
from msp.notifications.models import DigestSend
from msp.notifications.settings import notify_settings
from msp.queues import NOTIFICATIONS, enqueue
from tests.factories import make_tenant
from tests.notifications.digest_world import World, seed_world
from tests.notifications.helpers import SECRET, email_endpoint, webhook_endpoint
from tests.notifications.servers import Hook, MailSink
from tests.support.net import free_port

DESK = ("desk@contoso.example", "lead@contoso.example")
CEO = "ceo@contoso.example"


@pytest.fixture
def world(notify_config: dict[str, Any], app: Flask, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setitem(app.config, "MSP_DIGEST_HOUR", 0)  # due from Monday 00:00: now
    monkeypatch.setitem(app.config, "MSP_BRAND_NAME", "Acme IT")
    monkeypatch.setitem(app.config, "MSP_BRAND_REPLY_TO", "help@acme-it.example")
    monkeypatch.setitem(app.config, "MSP_BASE_URL", "https://msp.example")
    world = seed_world(utcnow())
    email_endpoint(world.tenant, "service_desk", *DESK)
    email_endpoint(world.tenant, "security", "sec@contoso.example")  # no digest for security
    digest_service.update_schedule(world.tenant, {"addresses": [CEO]}, notify_settings(app.config))
    db.session.commit()  # the CLI commands roll back what they only read
    return world


def _sweep(run_jobs: Callable[..., Any]) -> None:
    enqueue("workers.notifications.digest_sweep", queue=NOTIFICATIONS)
    db.session.commit()
    run_jobs((NOTIFICATIONS,))


def _parsed(mail: Any) -> EmailMessage:
    parsed = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _by_recipient(sink: MailSink) -> dict[str, EmailMessage]:
    found: dict[str, EmailMessage] = {}
    for _, recipients, mail in sink.received:
        [to] = recipients
        assert to not in found, f"{to} got the digest twice"
        found[to] = _parsed(mail)
    return found


def test_each_recipient_gets_one_digest_after_two_sweeps(
    world: World, mail_sink: MailSink, run_jobs: Callable[..., Any]
) -> None:
    _sweep(run_jobs)
    _sweep(run_jobs)  # the job runs again: nothing more goes out
    enqueue("workers.notifications.send_digest", queue=NOTIFICATIONS, tenant_id=world.tenant.id)
    db.session.commit()
    run_jobs((NOTIFICATIONS,))
    mails = _by_recipient(mail_sink)
    assert sorted(mails) == sorted([*DESK, CEO])
    rows = db.session.scalars(select(DigestSend).where(DigestSend.tenant_id == world.tenant.id))
    assert {(r.address, r.status, r.attempts) for r in rows} == {
        (a, "sent", 1) for a in [*DESK, CEO]
    }


def test_the_digest_parses_back_with_both_parts_the_inline_chart_and_unsubscribe_headers(
    world: World, mail_sink: MailSink, run_jobs: Callable[..., Any]
) -> None:
    _sweep(run_jobs)
    mail = _by_recipient(mail_sink)[CEO]
    assert mail["Subject"].startswith("Contoso Ltd: your e-mail security this week (")
    assert mail["From"] == "Acme IT <dmarc@msp.example>"
    assert mail["Reply-To"] == "help@acme-it.example"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    related = [p for p in mail.iter_parts() if p.get_content_type() == "multipart/related"]
    assert len(related) == 1  # the HTML and its images travel together
    images = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert [p["Content-ID"] for p in images] == [f"<{CHART_CID}>"]
    assert images[0].get_content().startswith(b"\x89PNG")
    html_text, plain = html.get_content(), text.get_content()
    assert f'src="cid:{CHART_CID}"' in html_text
    for needle in ("1 domain moved to p=reject", "Newsletter Co", "Service desk"):
        assert needle in html_text and needle in plain
    unsubscribe = mail["List-Unsubscribe"]
    url = re.fullmatch(r"<(https://msp\.example/api/v1/digest/unsubscribe/[^>]+)>", unsubscribe)
    assert url is not None, unsubscribe
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url.group(1) in html_text and url.group(1) in plain  # the footer link is the same


def test_one_click_unsubscribe_stops_that_recipient_only(
    world: World, mail_sink: MailSink, run_jobs: Callable[..., Any], client: FlaskClient,
    app: Flask,
) -> None:  # fmt: skip
    _sweep(run_jobs)
    header = _by_recipient(mail_sink)[DESK[0]]["List-Unsubscribe"]
    path = urlsplit(header.strip("<>")).path
    page = client.get(path)
    assert page.status_code == 200 and DESK[0] in page.get_data(as_text=True)
    assert client.post(path, data={}).status_code == 400  # not the RFC 8058 form
    answer = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 204
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 204
    assert client.post(path[:-3] + "xyz", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    next_week = utcnow() + timedelta(days=7)
    schedule = digest_service.schedule_of(world.tenant, notify_settings(app.config))
    assert digest_service.recipients(world.tenant.id, schedule) == sorted([DESK[1], CEO])
    mail_sink.received.clear()
    claimed = digest_service.prepare_week(world.tenant, notify_settings(app.config), next_week)
    db.session.commit()
    run_jobs((NOTIFICATIONS,))
    assert len(claimed) == 2
    assert sorted(_by_recipient(mail_sink)) == sorted([DESK[1], CEO])


def test_a_send_that_fails_is_retried_and_still_arrives_once(
    world: World, mail_sink: MailSink, run_jobs: Callable[..., Any], app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setitem(app.config, "MSP_SMTP_PORT", free_port())  # nobody listens: fails
    monkeypatch.setitem(app.config, "MSP_NOTIFY_RETRY_SECONDS", [3600])
    claimed = digest_service.prepare_week(world.tenant, notify_settings(app.config), utcnow())
    db.session.commit()  # claimed before anything is sent
    run_jobs((NOTIFICATIONS,))  # each send fails and is rescheduled an hour later
    rows = list(db.session.scalars(select(DigestSend).where(DigestSend.id.in_(claimed))))
    assert {(r.status, r.attempts) for r in rows} == {("retrying", 1)}
    assert all("SMTP connection failed" in (r.last_error or "") for r in rows)
    monkeypatch.setitem(app.config, "MSP_SMTP_PORT", mail_sink.port)
    settings = notify_settings(app.config)
    for send_id in claimed * 2:  # the retry, and a duplicate of it (a second worker)
        digest_service.send_claimed(send_id, settings, utcnow())
    db.session.commit()
    assert sorted(_by_recipient(mail_sink)) == sorted([*DESK, CEO])
    db.session.expire_all()
    assert {r.status for r in db.session.scalars(select(DigestSend))} == {"sent"}


def test_a_worker_dying_mid_send_leaves_the_claim_open_for_the_retry(
    world: World, mail_sink: MailSink, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = notify_settings(app.config)
    claimed = digest_service.prepare_week(world.tenant, settings, utcnow())
    db.session.commit()

    def die(*args: Any) -> Any:
        raise SystemExit("worker killed")

    with monkeypatch.context() as patched:
        patched.setattr(digest_service, "smtp_send", die)
        with pytest.raises(SystemExit):
            digest_service.send_claimed(claimed[0], settings, utcnow())
    db.session.rollback()  # what the job wrapper does when the process goes down
    assert digest_service.prepare_week(world.tenant, settings, utcnow()) == []  # no new claim
    outcome = digest_service.send_claimed(claimed[0], settings, utcnow())
    assert outcome.status == "sent" and len(mail_sink.received) == 1


def test_the_logo_goes_inline_by_content_id(
    world: World, mail_sink: MailSink, app: Flask, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    from PIL import Image

    logo = tmp_path / "logo.png"
    buffer = io.BytesIO()
    Image.new("RGB", (120, 32), "#0a7d5a").save(buffer, format="PNG")
    logo.write_bytes(buffer.getvalue())
    monkeypatch.setitem(app.config, "MSP_BRAND_LOGO_FILE", str(logo))
    settings = notify_settings(app.config)
    [first, *_] = digest_service.prepare_week(world.tenant, settings, utcnow())
    db.session.commit()
    digest_service.send_claimed(first, settings, utcnow())
    [(_, _, raw)] = mail_sink.received
    mail = _parsed(raw)
    cids = sorted(p["Content-ID"] for p in mail.walk() if p.get_content_type() == "image/png")
    assert cids == sorted([f"<{CHART_CID}>", f"<{LOGO_CID}>"])
    html = mail.get_body(("html",))
    assert html is not None and f'src="cid:{LOGO_CID}"' in html.get_content()


def test_a_webhook_of_a_digest_team_gets_the_digest_as_signed_json(
    world: World, hooks: Callable[[], Hook], run_jobs: Callable[..., Any]
) -> None:
    hook = hooks()
    webhook_endpoint(world.tenant, "sysadmins", hook.url)
    _sweep(run_jobs)
    _sweep(run_jobs)
    [(headers, body)] = hook.received
    assert verify(body, SECRET, headers["x-msp-signature"])
    assert headers["x-msp-event"] == "digest"
    digest = json.loads(body)["digest"]
    assert digest["tenant_id"] == world.tenant.id
    assert digest["parked"] == ["old.contoso.example"]
    assert {d["name"] for d in digest["domains"]} >= {"shop.contoso.example"}


def test_a_disabled_digest_is_not_due(world: World, app: Flask) -> None:
    settings = notify_settings(app.config)
    assert [t for t, _ in digest_service.due_digests(settings, utcnow())] == [world.tenant.id]
    digest_service.update_schedule(world.tenant, {"enabled": False}, settings)
    assert digest_service.due_digests(settings, utcnow()) == []
    make_tenant()  # a tenant without recipients is never due either
    assert digest_service.due_digests(settings, utcnow()) == []


def test_cli_preview_writes_html_and_text_and_sends_nothing(
    world: World, mail_sink: MailSink, app: Flask, tmp_path: Path
) -> None:
    html, text = tmp_path / "digest.html", tmp_path / "digest.txt"
    result = app.test_cli_runner().invoke(
        cli.digest,
        ["preview", "--tenant", world.tenant.slug, "--html", str(html), "--text", str(text),
         "--week", "2026-W49"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Subject: Contoso Ltd: your e-mail security this week (2026-W49)" in result.output
    page = html.read_text()
    assert "cid:" not in page and "data:image/png;base64," in page
    assert "shop.contoso.example" in text.read_text()
    assert mail_sink.received == []
    assert db.session.scalars(select(DigestSend)).all() == []
    bad = app.test_cli_runner().invoke(
        cli.digest, ["preview", "--tenant", world.tenant.slug, "--html", str(html), "--week", "49"]
    )
    assert bad.exit_code != 0 and "week must look like" in bad.output


def test_cli_send_delivers_now_and_only_once(world: World, mail_sink: MailSink, app: Flask) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(cli.digest, ["send", "--tenant", world.tenant.slug])
    second = runner.invoke(cli.digest, ["send", "--tenant", world.tenant.slug])
    assert first.exit_code == 0 and first.output.count(": sent (") == 3, first.output
    assert "nothing to send" in second.output
    assert sorted(_by_recipient(mail_sink)) == sorted([*DESK, CEO])


def test_a_claim_whose_job_was_lost_is_queued_again_and_sent_once(
    world: World, mail_sink: MailSink, app: Flask, run_jobs: Callable[..., Any]
) -> None:
    settings = notify_settings(app.config)
    claimed = digest_service.prepare_week(world.tenant, settings, utcnow())
    db.session.info.clear()  # the send jobs never reach Redis (lost with a restart)
    db.session.commit()
    later = utcnow() + timedelta(minutes=11)
    assert digest_service.requeue_lost(utcnow()) == 0  # not overdue yet
    assert digest_service.requeue_lost(later) == len(claimed) == 3
    db.session.commit()
    run_jobs((NOTIFICATIONS,))
    assert sorted(_by_recipient(mail_sink)) == sorted([*DESK, CEO])
    assert digest_service.requeue_lost(later) == 0


def test_old_digest_issues_and_their_claims_are_pruned(world: World, app: Flask) -> None:
    from msp.notifications.models import DigestIssue

    settings = notify_settings(app.config)
    digest_service.prepare_week(world.tenant, settings, utcnow())
    db.session.flush()
    assert digest_service.prune(90, utcnow() + timedelta(days=89)) == 0
    assert digest_service.prune(90, utcnow() + timedelta(days=91)) == 1
    assert db.session.scalars(select(DigestIssue)).all() == []
    assert db.session.scalars(select(DigestSend)).all() == []
    assert digest_service.prune(0, utcnow() + timedelta(days=999)) == 0  # 0 keeps for ever
