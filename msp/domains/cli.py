"""``msp domains``: add and list domains."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from flask.cli import with_appcontext

from msp.cli_support import commit, emit
from msp.tenancy.cli import tenant_or_exit

if TYPE_CHECKING:
    from msp.domains.models import Domain


@click.group()
def domains() -> None:
    """Add and list domains."""


def _domain_row(d: Domain) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "tenant_id": d.tenant_id,
        "dkim_selectors": d.dkim_selectors,
        "parked": d.parked,
    }


@domains.command("add")
@click.argument("names", nargs=-1, required=True)
@click.option("--tenant", "slug", required=True, help="tenant slug")
@click.option("--selector", "selectors", multiple=True, help="DKIM selector (repeatable)")
@click.option("--parked", is_flag=True, help="the domain sends no mail")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def domains_add(
    names: tuple[str, ...], slug: str, selectors: tuple[str, ...], parked: bool, as_json: bool
) -> None:
    """Add DOMAIN... to a tenant (all or none)."""
    from msp.domains.service import add_domain
    from msp.errors import AppError

    tenant = tenant_or_exit(slug)
    try:
        added = [
            add_domain(tenant, n, dkim_selectors=list(selectors), parked=parked) for n in names
        ]
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    commit()
    emit([_domain_row(d) for d in added], as_json, ("id", "name"))


@domains.command("list")
@click.option("--tenant", "slug", help="only this tenant's domains")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def domains_list(slug: str | None, as_json: bool) -> None:
    """List domains."""
    from sqlalchemy import select

    from msp.domains.models import Domain
    from msp.extensions import db

    stmt = select(Domain).order_by(Domain.name)
    if slug:
        stmt = stmt.where(Domain.tenant_id == tenant_or_exit(slug).id)
    emit([_domain_row(d) for d in db.session.scalars(stmt)], as_json, ("id", "name", "tenant_id"))


COMMANDS: list[click.Command] = [domains]
