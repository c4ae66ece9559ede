"""Slack (Block Kit to an incoming webhook) and Microsoft Teams (an Adaptive Card to a
Workflows webhook) against stand-in receivers on 127.0.0.1 that check the documented payload
shapes and answer as the services do (Slack 200 ``ok`` / 404 ``no_service``, Teams 202 empty);
their URLs are secrets (sealed, never shown back); the "send test" action; events routed to
them by the worker."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from msp.events import emit_event
from msp.extensions import db
from msp.notifications import service
from msp.notifications.channels import DeliveryError, Message, Target, registry, slack, teams
from msp.notifications.channels.http import UnsafeTarget
from msp.notifications.messages import EventFacts, event_message
from msp.notifications.models import NotificationEndpoint
from msp.notifications.settings import NotifySettings
from msp.queues import NOTIFICATIONS, enqueue
from tests.factories import make_domain, make_tenant, token_caller
from tests.notifications.helpers import team
from tests.notifications.servers import ChatHook, chat_server, slack_problem, teams_problem

SETTINGS = NotifySettings(webhook_allow_private=True, webhook_timeout=5)
FACTS = EventFacts(
    event_id=1,
    kind="dns.finding.opened",
    severity="error",
    at=datetime(2026, 12, 1, 9, tzinfo=UTC),
    payload={"code": "spf_missing", "message": "No SPF record"},
    tenant_id=3,
    tenant_slug="contoso",
    tenant_name="Contoso Ltd",
    domain_id=42,
    domain_name="shop.contoso.example",
)
EVENT = event_message(FACTS, "https://msp.example")


@pytest.fixture
def slack_hook() -> Iterator[ChatHook]:
    with chat_server("slack") as hook:
        yield hook


@pytest.fixture
def teams_hook() -> Iterator[ChatHook]:
    with chat_server("teams") as hook:
        yield hook


def test_the_registry_has_slack_and_teams_with_their_urls_secret() -> None:
    channels = registry()
    assert {"email", "webhook", "slack", "teams"} <= set(channels)
    assert channels["slack"].secret_fields == {"url"}
    assert channels["teams"].secret_fields == {"url"}


def test_slack_gets_block_kit_with_finding_severity_domain_and_link(slack_hook: ChatHook) -> None:
    receipt = slack.send(EVENT, Target(config={}, secrets={"url": slack_hook.url}), SETTINGS)
    assert receipt == "HTTP 200"
    [payload] = slack_hook.received
    header, context, section, actions = payload["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "New DNS finding"}}
    texts = [e["text"] for e in context["elements"]]
    assert any("error" in t for t in texts) and "*Domain:* shop.contoso.example" in texts
    assert section["text"]["text"] == "No SPF record"
    [button] = actions["elements"]
    assert button["url"] == "https://msp.example/domains/42"
    assert payload["text"].startswith("[ERROR] New DNS finding: shop.contoso.example")


def test_teams_gets_an_adaptive_card_and_a_202(teams_hook: ChatHook) -> None:
    receipt = teams.send(EVENT, Target(config={}, secrets={"url": teams_hook.url}), SETTINGS)
    assert receipt == "HTTP 202"
    [payload] = teams_hook.received
    [attachment] = payload["attachments"]
    card = attachment["content"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.5")
    title, facts, text = card["body"]
    assert title["text"] == "New DNS finding" and title["color"] == "Attention"
    assert {f["title"]: f["value"] for f in facts["facts"]} == {
        "Severity": "error",
        "Domain": "shop.contoso.example",
        "Client": "Contoso Ltd",
    }
    assert text["text"] == "No SPF record"
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open", "url": "https://msp.example/domains/42"}
    ]


def test_the_stand_ins_refuse_what_the_services_refuse() -> None:
    """The receivers' checks can fail: legacy and malformed payloads are refused."""
    assert teams_problem("/workflows/abc/triggers/manual/paths/invoke", {"text": "hi"})
    card = teams.payload(EVENT)
    card["attachments"][0]["content"]["body"][0]["type"] = ""
    assert teams_problem("/workflows/abc/triggers/manual/paths/invoke", card)
    long_title = slack.payload(EVENT)
    long_title["blocks"][0]["text"]["text"] = "x" * 151
    assert slack_problem("/services/T000/B000/XXXX", long_title) == (400, "invalid_blocks")
    assert slack_problem("/services/T000/B000/XXXX", {"username": "x"}) == (
        400,
        "invalid_payload",
    )


def test_a_long_title_is_cut_to_slacks_header_limit(slack_hook: ChatHook) -> None:
    message = Message(subject="S" * 400, text="body")
    slack.send(message, Target(config={}, secrets={"url": slack_hook.url}), SETTINGS)
    [payload] = slack_hook.received
    assert len(payload["blocks"][0]["text"]["text"]) == 150


def test_a_revoked_slack_webhook_fails_for_good(slack_hook: ChatHook) -> None:
    revoked = slack_hook.url.replace("XXXX", "gone")
    with pytest.raises(DeliveryError) as failure:
        slack.send(EVENT, Target(config={}, secrets={"url": revoked}), SETTINGS)
    assert failure.value.permanent and "404" in str(failure.value)
    assert slack_hook.refused == [(404, "no_service")]


@pytest.mark.parametrize("channel", [slack, teams])
def test_chat_webhooks_to_private_addresses_are_refused_by_the_outbound_guard(
    channel: Any, slack_hook: ChatHook
) -> None:
    guarded = NotifySettings(webhook_allow_private=False)
    with pytest.raises(UnsafeTarget):
        channel.send(EVENT, Target(config={}, secrets={"url": slack_hook.url}), guarded)
    assert slack_hook.received == []


def _endpoint(client: FlaskClient, team_id: int, kind: str, url: str, headers: Any) -> Any:
    response = client.post(
        f"/api/v1/notification-teams/{team_id}/endpoints",
        json={"kind": kind, "name": f"{kind} channel", "config": {"url": url}},
        headers=headers,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def test_api_keeps_the_urls_secret_and_sends_a_test_to_each(
    client: FlaskClient,
    notify_config: dict[str, Any],
    slack_hook: ChatHook,
    teams_hook: ChatHook,
    run_jobs: Callable[..., Any],
) -> None:
    tenant = make_tenant(name="Chat Co")
    admin = token_caller("tenant_admin", tenant)
    team_id = team(tenant, "sysadmins").id
    db.session.commit()
    created = [
        _endpoint(client, team_id, "slack", slack_hook.url, admin.headers),
        _endpoint(client, team_id, "teams", teams_hook.url, admin.headers),
    ]
    for body in created:
        assert body["config"] == {} and body["secrets_set"] == ["url"]
        shown = client.get(f"/api/v1/notification-endpoints/{body['id']}", headers=admin.headers)
        assert slack_hook.url not in shown.get_data(as_text=True)
        assert teams_hook.url not in shown.get_data(as_text=True)
        renamed = client.patch(
            f"/api/v1/notification-endpoints/{body['id']}",
            json={"name": "renamed", "config": {}},
            headers=admin.headers,
        )
        assert renamed.status_code == 200  # the URL left out keeps its value
        probe = client.post(
            f"/api/v1/notification-endpoints/{body['id']}/test", headers=admin.headers
        )
        assert probe.status_code == 202
    row = db.session.get(NotificationEndpoint, created[0]["id"])
    assert row is not None and slack_hook.url not in json.dumps(row.config)
    assert slack_hook.url not in row.sealed_secrets  # sealed, not stored in the clear
    run_jobs((NOTIFICATIONS,))
    [slack_probe] = slack_hook.received
    [teams_probe] = teams_hook.received
    assert slack_probe["blocks"][0]["text"]["text"].startswith("Test notification for")
    assert teams_probe["attachments"][0]["content"]["body"][0]["text"].startswith(
        "Test notification for"
    )


def test_events_reach_slack_and_teams_through_the_worker(
    notify_config: dict[str, Any],
    slack_hook: ChatHook,
    teams_hook: ChatHook,
    run_jobs: Callable[..., Any],
    app: Any,
) -> None:
    tenant = make_tenant(name="Routed Co")
    domain = make_domain(tenant, "routed.example")
    key = app.config["MSP_ENCRYPTION_KEY"]
    sysadmins = team(tenant, "sysadmins")
    service.create_endpoint(sysadmins, "slack", {"url": slack_hook.url}, encryption_key=key)
    service.create_endpoint(sysadmins, "teams", {"url": teams_hook.url}, encryption_key=key)
    emit_event(tenant.id, "dns.drift", {"key": "spf", "old": "a", "new": "b"},
               domain_id=domain.id, severity="warning")  # fmt: skip
    enqueue("workers.notifications.dispatch_events", queue=NOTIFICATIONS)
    db.session.commit()
    run_jobs((NOTIFICATIONS,))
    [posted] = slack_hook.received
    assert posted["blocks"][0]["text"]["text"] == "DNS records changed"
    assert posted["blocks"][-1]["elements"][0]["url"].endswith(f"/domains/{domain.id}")
    assert len(teams_hook.received) == 1
