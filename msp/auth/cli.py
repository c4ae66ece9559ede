"""``msp users``, ``msp tokens`` and ``msp create-admin``: people and API tokens from the command
line (each commits once)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import click
from flask.cli import with_appcontext

from msp.cli_support import commit, emit
from msp.tenancy.cli import tenant_or_exit

if TYPE_CHECKING:
    from msp.auth.models import User

ROLES = click.Choice(["msp_admin", "msp_staff", "tenant_admin", "tenant_viewer"])


@click.group()
def users() -> None:
    """Create and list users."""


@users.command("create")
@click.argument("email")
@click.option("--role", required=True, type=ROLES)
@click.option("--tenant", "slug", help="tenant slug (tenant roles)")
@click.option("--password", help="default: generated and printed once")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def users_create(
    email: str, role: str, slug: str | None, password: str | None, as_json: bool
) -> None:
    """Create a user; prints the password once when it was generated."""
    user, password = _create_user(email, role, slug, password)
    commit()
    emit(
        {"id": user.id, "email": user.email, "role": role, "password": password},
        as_json,
        ("id", "email", "role", "password"),
    )


def _create_user(email: str, role: str, slug: str | None, password: str | None) -> tuple[User, str]:
    from msp.auth.users import create_user
    from msp.errors import AppError

    password = password or secrets.token_urlsafe(12)
    data: dict[str, Any] = {"email": email, "password": password}
    if role.startswith("msp_"):
        data["msp_role"] = role
    else:
        if not slug:
            raise click.ClickException("tenant roles need --tenant SLUG")
        data.update(tenant_id=tenant_or_exit(slug).id, tenant_role=role)
    try:
        return create_user(None, data), password
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def users_list(as_json: bool) -> None:
    """List users."""
    from sqlalchemy import select

    from msp.auth.models import User
    from msp.extensions import db

    rows = [
        {
            "id": u.id,
            "email": u.email,
            "msp_role": u.msp_role,
            "active": u.is_active,
            "memberships": {m.tenant_id: m.role for m in u.memberships},
        }
        for u in db.session.scalars(select(User).order_by(User.id))
    ]
    emit(rows, as_json, ("id", "email", "msp_role"))


@click.command("create-admin")
@click.argument("email", required=False, default="admin@localhost")
@click.option("--password", help="default: generated and printed once")
@with_appcontext
def create_admin(email: str, password: str | None) -> None:
    """Create the first MSP admin (does nothing when an admin exists)."""
    from msp.bootstrap import ensure_first_admin

    created = ensure_first_admin(email, password)
    commit()
    if created:
        click.echo(f"MSP admin {created[0]} created; password: {created[1]}")
    else:
        click.echo("an MSP admin exists already")


@click.group()
def tokens() -> None:
    """Create, list and revoke API tokens."""


@tokens.command("create")
@click.option("--name", required=True)
@click.option("--role", required=True, type=ROLES)
@click.option("--tenant", "slug", help="scope the token to one tenant")
@click.option("--days", default=90, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def tokens_create(name: str, role: str, slug: str | None, days: int, as_json: bool) -> None:
    """Create an API token; its secret is printed once."""
    from msp.auth.principal import Principal
    from msp.auth.service import issue_token
    from msp.db import utcnow

    operator = Principal(kind="cli", id=0, label="cli", msp_role="msp_admin", all_tenants=True)
    tenant_id = tenant_or_exit(slug).id if slug else None
    issued = issue_token(
        operator, name=name, tenant_id=tenant_id, role=role, days=days, now=utcnow()
    )
    commit()
    emit(
        {
            "id": issued.token.id,
            "name": name,
            "role": role,
            "tenant_id": tenant_id,
            "expires_at": issued.token.expires_at.isoformat(),
            "token": issued.secret,
        },
        as_json,
        ("id", "name", "token"),
    )


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def tokens_list(as_json: bool) -> None:
    """List tokens (never their secrets)."""
    from sqlalchemy import select

    from msp.auth.models import ApiToken
    from msp.extensions import db

    rows = [
        {
            "id": t.id,
            "name": t.name,
            "prefix": t.prefix,
            "role": t.role,
            "tenant_id": t.tenant_id,
            "expires_at": t.expires_at.isoformat(),
            "revoked": t.revoked_at is not None,
        }
        for t in db.session.scalars(select(ApiToken).order_by(ApiToken.id))
    ]
    emit(rows, as_json, ("id", "name", "prefix", "role", "revoked"))


@tokens.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def tokens_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID."""
    from msp.auth.models import ApiToken
    from msp.auth.service import revoke_token
    from msp.db import utcnow
    from msp.extensions import db

    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise click.ClickException(f"no token {token_id}")
    revoke_token(token, utcnow())
    commit()
    click.echo(f"token {token_id} revoked")


COMMANDS: list[click.Command] = [users, tokens, create_admin]
