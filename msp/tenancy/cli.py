"""``msp tenants``: create, list and show tenants; ``tenant_or_exit`` for other areas' commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from flask.cli import with_appcontext

from msp.cli_support import commit, emit

if TYPE_CHECKING:
    from msp.tenancy.models import Tenant


@click.group()
def tenants() -> None:
    """Create and list tenants (the MSP's clients)."""


def _tenant_row(t: Tenant) -> dict[str, Any]:
    return {
        "id": t.id,
        "slug": t.slug,
        "name": t.name,
        "timezone": t.timezone,
        "plan": t.plan,
        "status": t.status,
        "report_token": t.report_token,
    }


def tenant_or_exit(slug: str) -> Tenant:
    """The tenant with ``slug``, or the command ends with an error message."""
    from msp.tenancy.service import tenant_by_slug

    tenant = tenant_by_slug(slug)
    if tenant is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return tenant


@tenants.command("create")
@click.argument("slug")
@click.option("--name", help="display name (default: the slug)")
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def tenants_create(slug: str, name: str | None, timezone: str, as_json: bool) -> None:
    """Create tenant SLUG."""
    from msp.tenancy.service import create_tenant

    tenant = create_tenant(slug, name, timezone)
    commit()
    emit(_tenant_row(tenant), as_json, ("id", "slug", "name"))


@tenants.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def tenants_list(as_json: bool) -> None:
    """List all tenants."""
    from sqlalchemy import select

    from msp.extensions import db
    from msp.tenancy.models import Tenant

    rows = [_tenant_row(t) for t in db.session.scalars(select(Tenant).order_by(Tenant.slug))]
    emit(rows, as_json, ("id", "slug", "name", "plan"))


@tenants.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def tenants_show(slug: str, as_json: bool) -> None:
    """Show tenant SLUG."""
    emit(
        _tenant_row(tenant_or_exit(slug)),
        as_json,
        ("id", "slug", "name", "timezone", "plan", "report_token"),
    )


COMMANDS: list[click.Command] = [tenants]
