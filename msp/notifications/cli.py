"""``msp notify`` and ``msp digest``: set up teams, prove endpoints work, look at deliveries,
and send (or preview) the weekly digest. Sends from the CLI happen in the command itself, so
they work in the standalone mode too; the command commits once at the end.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from msp.db import utcnow
from msp.errors import AppError
from msp.extensions import db
from msp.notifications import delivery, digest_service, service
from msp.notifications.digest_render import with_data_uris
from msp.notifications.models import Delivery, NotificationEndpoint
from msp.notifications.settings import NotifySettings, notify_settings
from msp.tenancy.models import Tenant


def _tenant(slug: str) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return tenant


def _settings() -> NotifySettings:
    return notify_settings(current_app.config)


def _echo(rows: list[dict[str, Any]], as_json: bool, columns: tuple[str, ...]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        click.echo("  ".join(str(row.get(c, "")) for c in columns))


@click.group("notify")
def notify() -> None:
    """Notification teams, endpoints and deliveries."""


@notify.command("defaults")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@with_appcontext
def defaults(slug: str) -> None:
    """Create the standard teams (service_desk, sysadmins, security, network)."""
    teams = service.ensure_default_teams(_tenant(slug).id)
    db.session.commit()
    click.echo(", ".join(t.name for t in teams))


@notify.command("teams")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def teams(slug: str, as_json: bool) -> None:
    """List the tenant's teams and their endpoints (never their secrets)."""
    rows = [
        {
            "team": t.name,
            "digest": t.receives_digest,
            "endpoint_id": e.id,
            "kind": e.kind,
            "name": e.name,
            "enabled": e.enabled,
            "config": e.config,
        }
        for t in service.list_teams(_tenant(slug).id)
        for e in t.endpoints
    ]
    _echo(rows, as_json, ("team", "endpoint_id", "kind", "name", "config"))


@notify.command("test")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@click.option("--endpoint", "endpoint_id", type=int, help="only this endpoint")
@with_appcontext
def test(slug: str, endpoint_id: int | None) -> None:
    """Send a test message to every enabled endpoint of the tenant (or one), now."""
    tenant = _tenant(slug)
    stmt = select(NotificationEndpoint).where(
        NotificationEndpoint.tenant_id == tenant.id, NotificationEndpoint.enabled.is_(True)
    )
    if endpoint_id is not None:
        stmt = stmt.where(NotificationEndpoint.id == endpoint_id)
    endpoints = list(db.session.scalars(stmt.order_by(NotificationEndpoint.id)))
    if not endpoints:
        raise click.ClickException("no enabled endpoint to test")
    failed = 0
    for endpoint in endpoints:
        probe = delivery.send_probe(endpoint, tenant.name, queue=False)
        outcome = delivery.send_delivery(probe.id, _settings(), utcnow())
        failed += outcome.status != "sent"
        click.echo(
            f"{endpoint.id} {endpoint.kind} {endpoint.name}: {outcome.status} ({outcome.detail})"
        )
    db.session.commit()
    if failed:
        raise click.ClickException(f"{failed} endpoint(s) failed")


@notify.command("dispatch")
@with_appcontext
def dispatch() -> None:
    """Fan out pending events into deliveries now (the workers send them)."""
    result = delivery.dispatch_pending(_settings(), utcnow())
    db.session.commit()
    click.echo(f"{result.events} event(s), {result.deliveries} delivery(ies), {result.stale} stale")


@notify.command("deliveries")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@click.option("--status", type=click.Choice(["pending", "retrying", "sent", "failed"]))
@click.option("--limit", default=50, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def deliveries(slug: str, status: str | None, limit: int, as_json: bool) -> None:
    """The tenant's latest deliveries."""
    stmt = delivery.deliveries_query(_tenant(slug).id, status).limit(limit)
    rows = [_delivery_row(d) for d in db.session.scalars(stmt)]
    _echo(rows, as_json, ("id", "endpoint_id", "key", "status", "attempts", "last_error"))


def _delivery_row(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "endpoint_id": d.endpoint_id,
        "key": d.key,
        "status": d.status,
        "attempts": d.attempts,
        "subject": d.subject,
        "last_error": d.last_error or "",
        "sent_at": d.sent_at,
    }


@click.group("digest")
def digest() -> None:
    """The weekly posture digest."""


@digest.command("send")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@with_appcontext
def digest_send(slug: str) -> None:
    """Send this week's digest of a tenant now, to each recipient that has not had it."""
    tenant, settings, now = _tenant(slug), _settings(), utcnow()
    claimed = digest_service.prepare_week(tenant, settings, now)
    db.session.commit()  # the claims exist before anything is sent
    outcomes = [digest_service.send_claimed(send_id, settings, now) for send_id in claimed]
    db.session.commit()
    if not outcomes:
        click.echo("nothing to send: no recipient, or this week's digest went out")
    for outcome in outcomes:
        click.echo(f"digest {outcome.delivery_id}: {outcome.status} ({outcome.detail})")


@digest.command("preview")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@click.option("--html", "html_file", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--text", "text_file", type=click.Path(dir_okay=False, writable=True))
@click.option("--week", help="the digest of this ISO week (YYYY-Www) instead of now")
@with_appcontext
def digest_preview(slug: str, html_file: str, text_file: str | None, week: str | None) -> None:
    """Write the digest's HTML (images inline, viewable in a browser) and text; send nothing."""
    tenant, settings = _tenant(slug), _settings()
    try:
        moment = digest_service.moment_of(tenant, settings, week, utcnow())
    except AppError as exc:
        raise click.BadParameter(exc.detail or exc.title, param_hint="--week") from exc
    rendered = digest_service.render(tenant, settings, moment)
    db.session.rollback()
    Path(html_file).write_text(with_data_uris(rendered.html, rendered.images), encoding="utf-8")
    if text_file:
        Path(text_file).write_text(rendered.text, encoding="utf-8")
    click.echo(f"Subject: {rendered.subject}")


COMMANDS: list[click.Command] = [notify, digest]
