"""Builders shared by the notification tests (through the services, like production)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from msp.extensions import db
from msp.notifications import service
from msp.notifications.models import Delivery, NotificationEndpoint, NotificationTeam
from msp.tenancy.models import Tenant

SECRET = "hook-secret-0123456789"


def team(tenant: Tenant, name: str) -> NotificationTeam:
    teams = {t.name: t for t in service.ensure_default_teams(tenant.id)}
    return teams[name] if name in teams else service.create_team(tenant.id, name)


def email_endpoint(tenant: Tenant, team_name: str, *to: str) -> NotificationEndpoint:
    return service.create_endpoint(
        team(tenant, team_name),
        "email",
        {"to": list(to)},
        name=f"{team_name} mail",
        encryption_key=current_app.config["MSP_ENCRYPTION_KEY"],
    )


def webhook_endpoint(
    tenant: Tenant, team_name: str, url: str, secret: str = SECRET
) -> NotificationEndpoint:
    return service.create_endpoint(
        team(tenant, team_name),
        "webhook",
        {"url": url, "secret": secret},
        name=f"{team_name} hook",
        encryption_key=current_app.config["MSP_ENCRYPTION_KEY"],
    )


def deliveries(**where: Any) -> list[Delivery]:
    stmt = select(Delivery).order_by(Delivery.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(Delivery, key) == value)
    db.session.expire_all()
    return list(db.session.scalars(stmt))
