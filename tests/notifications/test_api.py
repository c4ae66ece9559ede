"""The notifications API: teams and endpoints for tenant admins and MSP staff, secrets
write-only and sealed, rules, deliveries, test sends; other tenants' objects are 404."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from msp.extensions import db
from msp.notifications.channels.webhook import verify
from msp.notifications.models import NotificationEndpoint
from tests.factories import Caller, make_tenant, token_caller
from tests.notifications.servers import Hook, MailSink

SECRET = "api-secret-0123456789"


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return response.get_json()  # type: ignore[no-any-return]


def _teams(client: FlaskClient, tenant_id: int, caller: Caller) -> dict[str, int]:
    body = _ok(
        client.post(
            f"/api/v1/tenants/{tenant_id}/notification-teams/defaults", headers=caller.headers
        )
    )
    return {t["name"]: t["id"] for t in body}


def _webhook(client: FlaskClient, team_id: int, caller: Caller, url: str) -> dict[str, Any]:
    return _ok(
        client.post(
            f"/api/v1/notification-teams/{team_id}/endpoints",
            headers=caller.headers,
            json={"kind": "webhook", "name": "ticketing", "config": {"url": url, "secret": SECRET}},
        ),
        201,
    )


def test_tenant_admin_sets_up_a_webhook_whose_secret_is_sealed_and_never_shown(
    client: FlaskClient, notify_config: dict[str, Any], hooks: Callable[[], Hook]
) -> None:
    tenant = make_tenant()
    admin = token_caller("tenant_admin", tenant)
    teams = _teams(client, tenant.id, admin)
    assert set(teams) == {"service_desk", "sysadmins", "security", "network"}
    endpoint = _webhook(client, teams["sysadmins"], admin, "https://hooks.example/x")
    assert endpoint["config"] == {"url": "https://hooks.example/x"}
    assert endpoint["secrets_set"] == ["secret"]
    assert SECRET not in json.dumps(endpoint)
    stored = db.session.get(NotificationEndpoint, endpoint["id"])
    assert stored is not None and stored.sealed_secrets and SECRET not in stored.sealed_secrets
    listed = _ok(
        client.get(f"/api/v1/tenants/{tenant.id}/notification-teams", headers=admin.headers)
    )
    assert SECRET not in json.dumps(listed)


def test_changing_the_url_keeps_the_secret_and_a_test_send_proves_it(
    client: FlaskClient,
    notify_config: dict[str, Any],
    hooks: Callable[[], Hook],
    run_jobs: Callable[..., Any],
) -> None:
    tenant = make_tenant()
    admin = token_caller("msp_staff")
    hook = hooks()
    endpoint = _webhook(
        client, _teams(client, tenant.id, admin)["network"], admin, "https://old.example/x"
    )
    changed = _ok(
        client.patch(
            f"/api/v1/notification-endpoints/{endpoint['id']}",
            headers=admin.headers,
            json={"config": {"url": hook.url}},
        )
    )
    assert changed["config"] == {"url": hook.url} and changed["secrets_set"] == ["secret"]
    probe = _ok(
        client.post(f"/api/v1/notification-endpoints/{endpoint['id']}/test", headers=admin.headers),
        202,
    )
    assert probe["status"] == "pending" and probe["key"].startswith("test:")
    run_jobs()
    [(headers, body)] = hook.received
    assert verify(body, SECRET, headers["x-msp-signature"])
    assert json.loads(body)["type"] == "test"
    listed = _ok(
        client.get(
            f"/api/v1/tenants/{tenant.id}/notification-deliveries?status=sent",
            headers=admin.headers,
        )
    )
    assert [(d["id"], d["status"], d["attempts"]) for d in listed] == [(probe["id"], "sent", 1)]


def test_email_endpoint_test_send_reaches_the_smtp_server(
    client: FlaskClient,
    notify_config: dict[str, Any],
    mail_sink: MailSink,
    run_jobs: Callable[..., Any],
) -> None:
    tenant = make_tenant(name="Fabrikam")
    admin = token_caller("tenant_admin", tenant)
    team_id = _teams(client, tenant.id, admin)["service_desk"]
    endpoint = _ok(
        client.post(
            f"/api/v1/notification-teams/{team_id}/endpoints",
            headers=admin.headers,
            json={"kind": "email", "config": {"to": ["desk@fabrikam.example"]}},
        ),
        201,
    )
    _ok(
        client.post(f"/api/v1/notification-endpoints/{endpoint['id']}/test", headers=admin.headers),
        202,
    )
    run_jobs()
    [(_, recipients, mail)] = mail_sink.received
    assert recipients == ["desk@fabrikam.example"]
    assert mail["Subject"] == "Test notification for Service desk (Fabrikam)"


def test_invalid_endpoint_configuration_is_a_422_naming_the_field(
    client: FlaskClient, notify_config: dict[str, Any]
) -> None:
    tenant = make_tenant()
    admin = token_caller("tenant_admin", tenant)
    team_id = _teams(client, tenant.id, admin)["security"]
    url = f"/api/v1/notification-teams/{team_id}/endpoints"
    body = _problem(
        client.post(
            url,
            headers=admin.headers,
            json={"kind": "webhook", "config": {"url": "ftp://x.example/", "secret": "short"}},
        ),
        422,
    )
    assert set(body["errors"]["config"]) == {"url", "secret"}
    body = _problem(
        client.post(url, headers=admin.headers, json={"kind": "pager", "config": {}}), 422
    )
    assert "kind" in body["errors"]
    body = _problem(
        client.post(
            url,
            headers=admin.headers,
            json={"kind": "email", "config": {"to": ["x@y.example"]}, "colour": "red"},
        ),
        422,
    )
    assert "colour" in body["errors"]


def test_other_tenants_objects_are_not_found_and_viewers_may_not_manage(
    client: FlaskClient, notify_config: dict[str, Any]
) -> None:
    mine, theirs = make_tenant(), make_tenant()
    staff = token_caller("msp_admin")
    their_team = _teams(client, theirs.id, staff)["sysadmins"]
    their_endpoint = _webhook(client, their_team, staff, "https://theirs.example/h")["id"]
    admin = token_caller("tenant_admin", mine)
    for method, url in [
        ("get", f"/api/v1/tenants/{theirs.id}/notification-teams"),
        ("post", f"/api/v1/tenants/{theirs.id}/notification-teams/defaults"),
        ("get", f"/api/v1/notification-teams/{their_team}"),
        ("patch", f"/api/v1/notification-teams/{their_team}"),
        ("delete", f"/api/v1/notification-teams/{their_team}"),
        ("post", f"/api/v1/notification-teams/{their_team}/endpoints"),
        ("get", f"/api/v1/notification-endpoints/{their_endpoint}"),
        ("patch", f"/api/v1/notification-endpoints/{their_endpoint}"),
        ("delete", f"/api/v1/notification-endpoints/{their_endpoint}"),
        ("post", f"/api/v1/notification-endpoints/{their_endpoint}/test"),
        ("get", f"/api/v1/tenants/{theirs.id}/notification-rules"),
        ("put", f"/api/v1/tenants/{theirs.id}/notification-rules"),
        ("get", f"/api/v1/tenants/{theirs.id}/notification-deliveries"),
    ]:
        json_body = {"rules": []} if method == "put" else ({} if method in {"patch"} else None)
        if method == "post" and url.endswith("/endpoints"):
            json_body = {"kind": "email", "config": {"to": ["a@b.example"]}}
        response = getattr(client, method)(url, headers=admin.headers, json=json_body)
        _problem(response, 404)
    viewer = token_caller("tenant_viewer", mine)
    _problem(
        client.get(f"/api/v1/tenants/{mine.id}/notification-teams", headers=viewer.headers), 403
    )
    _problem(client.get(f"/api/v1/tenants/{mine.id}/notification-teams"), 401)
    assert (
        _ok(client.get(f"/api/v1/notification-endpoints/{their_endpoint}", headers=staff.headers))[
            "id"
        ]
        == their_endpoint
    )


def test_rules_default_then_replaced_then_restored(
    client: FlaskClient, notify_config: dict[str, Any]
) -> None:
    tenant = make_tenant()
    admin = token_caller("tenant_admin", tenant)
    _teams(client, tenant.id, admin)
    url = f"/api/v1/tenants/{tenant.id}/notification-rules"
    body = _ok(client.get(url, headers=admin.headers))
    assert (
        body["defaults"] is True
        and {"team": "security", "kinds": "sender.new", "code": "*", "min_severity": "info"}
        in body["rules"]
    )
    custom = [{"team": "security", "kinds": "*", "min_severity": "error"}]
    body = _ok(client.put(url, headers=admin.headers, json={"rules": custom}))
    assert body == {
        "defaults": False,
        "rules": [{"team": "security", "kinds": "*", "code": "*", "min_severity": "error"}],
    }
    bad = _problem(
        client.put(
            url,
            headers=admin.headers,
            json={
                "rules": [{"team": "nobody", "kinds": "*"}, {"team": "security", "kinds": "a b"}]
            },
        ),
        422,
    )
    assert set(bad["errors"]["rules"]) == {"0", "1"}
    assert _ok(client.get(url, headers=admin.headers))["defaults"] is False
    assert _ok(client.put(url, headers=admin.headers, json={"rules": []}))["defaults"] is True


def test_team_update_delete_and_channel_catalogue(
    client: FlaskClient, notify_config: dict[str, Any]
) -> None:
    tenant = make_tenant()
    admin = token_caller("tenant_admin", tenant)
    teams = _teams(client, tenant.id, admin)
    changed = _ok(
        client.patch(
            f"/api/v1/notification-teams/{teams['network']}",
            headers=admin.headers,
            json={"label": "NOC", "receives_digest": True},
        )
    )
    assert (changed["label"], changed["receives_digest"]) == ("NOC", True)
    _problem(
        client.post(
            f"/api/v1/tenants/{tenant.id}/notification-teams",
            headers=admin.headers,
            json={"name": "network"},
        ),
        409,
    )
    created = _ok(
        client.post(
            f"/api/v1/tenants/{tenant.id}/notification-teams",
            headers=admin.headers,
            json={"name": "dpo"},
        ),
        201,
    )
    assert created["receives_digest"] is False
    assert (
        client.delete(
            f"/api/v1/notification-teams/{created['id']}", headers=admin.headers
        ).status_code
        == 204
    )
    channels = _ok(client.get("/api/v1/notification-channels", headers=admin.headers))
    webhook = next(c for c in channels if c["kind"] == "webhook")
    assert {f["name"]: f["secret"] for f in webhook["fields"]} == {"url": False, "secret": True}


def test_openapi_describes_the_notification_routes(client: FlaskClient) -> None:
    spec = _ok(client.get("/api/v1/openapi.json"))
    paths = spec["paths"]
    assert "/api/v1/tenants/{tenant_id}/notification-deliveries" in paths
    endpoint = spec["components"]["schemas"]["Endpoint"]["properties"]
    assert endpoint["secrets_set"]["readOnly"] is True


def test_digest_preview_renders_this_week_without_sending(
    client: FlaskClient, notify_config: dict[str, Any], mail_sink: MailSink
) -> None:
    from tests.factories import make_domain

    tenant = make_tenant(name="Preview Co")
    make_domain(tenant, "preview.example")
    admin = token_caller("tenant_admin", tenant)
    url = f"/api/v1/tenants/{tenant.id}/digest/preview"
    body = _ok(client.get(url, headers=admin.headers))
    assert body["subject"].startswith("Preview Co: your e-mail security this week")
    assert "preview.example" in body["text"] and "preview.example" in body["html"]
    assert body["week"].startswith("20") and mail_sink.received == []
    older = _ok(client.get(f"{url}?week=2026-W10", headers=admin.headers))
    assert older["week"] == "2026-W10"
    _problem(client.get(f"{url}?week=2026-10", headers=admin.headers), 422)
    _problem(client.get(f"{url}?week=2026-W60", headers=admin.headers), 400)
    viewer = token_caller("tenant_viewer", tenant)
    _problem(client.get(url, headers=viewer.headers), 403)


def test_digest_settings_are_read_and_changed_by_tenant_admins(
    client: FlaskClient, notify_config: dict[str, Any]
) -> None:
    tenant = make_tenant(name="Schedule Co", timezone="Europe/Paris")
    admin = token_caller("tenant_admin", tenant)
    url = f"/api/v1/tenants/{tenant.id}/digest/settings"
    default = _ok(client.get(url, headers=admin.headers))
    assert default == {
        "enabled": True, "weekday": 0, "hour": 8, "timezone": "Europe/Paris",
        "addresses": [], "own": False,
    }  # fmt: skip
    changed = _ok(
        client.put(
            url,
            json={
                "weekday": 4,
                "hour": 16,
                "timezone": "America/New_York",
                "addresses": ["CEO@Schedule.example"],
            },
            headers=admin.headers,
        )
    )
    assert (changed["weekday"], changed["hour"], changed["timezone"]) == (4, 16, "America/New_York")
    assert changed["addresses"] == ["ceo@schedule.example"] and changed["own"] is True
    bad = _problem(
        client.put(url, json={"timezone": "Mars/Olympus", "addresses": ["x"]},
                   headers=admin.headers), 422)  # fmt: skip
    assert set(bad["errors"]) == {"timezone", "addresses"}
    _problem(client.put(url, json={"hour": 24}, headers=admin.headers), 422)
    off = _ok(client.put(url, json={"enabled": False}, headers=admin.headers))
    assert off["enabled"] is False and off["weekday"] == 4
