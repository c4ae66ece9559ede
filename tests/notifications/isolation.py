"""Tenant B's notification objects for the tenant-isolation walk over every route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app

from msp.notifications import service
from msp.notifications.models import NotificationEndpoint, NotificationTeam
from tests.isolation import World

B_URL = "https://hooks.b-secret.example/notify"
B_SECRET = "b-secret-signing-key-000"


def _team_b(world: World) -> NotificationTeam:
    team = world.extra.get("notification_team_b")
    if team is None:
        team = service.ensure_default_teams(world.tenant_b.id)[0]
        world.extra["notification_team_b"] = team
    return team  # type: ignore[no-any-return]


def _endpoint_b(world: World) -> NotificationEndpoint:
    endpoint = world.extra.get("notification_endpoint_b")
    if endpoint is None:
        endpoint = service.create_endpoint(
            _team_b(world),
            "webhook",
            {"url": B_URL, "secret": B_SECRET},
            name="b-ticketing",
            encryption_key=current_app.config["MSP_ENCRYPTION_KEY"],
        )
        world.extra["notification_endpoint_b"] = endpoint
        world.extra.setdefault("markers", []).extend([B_URL, B_SECRET])
    return endpoint  # type: ignore[no-any-return]


FACTORIES: dict[str, Callable[[World], Any]] = {
    "team_id": lambda w: _team_b(w).id,
    "endpoint_id": lambda w: _endpoint_b(w).id,
    # A rule is a position in its tenant's list of rules: the first of tenant B's.
    "index": lambda w: 0,
    # A valid unsubscribe token is a capability by design (RFC 8058: no login; whoever holds
    # the recipient's link may stop that recipient's digest), so no other caller can be denied
    # it; the walk proves that a made-up token reaches nothing (404).
    "token": lambda w: "made-up-token.not-signed",
}
