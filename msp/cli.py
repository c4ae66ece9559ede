"""The ``msp`` command: a Flask CLI group with the platform's commands.

``MSP_DATABASE_URL`` and ``MSP_REDIS_URL`` select the database and the queue (unset Redis: jobs
run in-process). Each area contributes ``COMMANDS`` from ``msp/<area>/cli.py``; they are loaded
lazily (``LAZY_COMMANDS``), so ``msp --help`` and every command import only what they run.
"""

from __future__ import annotations

import importlib
import json
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from msp import create_app
from msp.liveness import LIVENESS_FILE_ENV


@dataclass(frozen=True)
class LazyCommand:
    """A command the group imports only when it runs: ``target`` is ``module:attribute``;
    ``help`` is its one-line help for ``msp --help`` (tests/test_cli_lazy.py keeps it true)."""

    target: str
    help: str

    def load(self) -> click.Command:
        module_name, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


# Every area command (and the app's own `db` and `openapi` groups), by name. Importing them all
# took seconds (parsedmarc, alembic, dnspython, gunicorn...), and listing the app's commands
# built the whole app: `msp --help` paid for both.
LAZY_COMMANDS: Mapping[str, LazyCommand] = {
    "alive": LazyCommand(
        "msp.liveness:alive",
        "Exit 1 unless a worker or scheduler touched PATH lately (liveness probe).",
    ),
    "billing": LazyCommand(
        "msp.billing.cli:billing",
        "Stripe billing: status, sync from Stripe, subscribe or link a tenant.",
    ),
    "check": LazyCommand(
        "msp.dns.cli:check",
        "Check the e-mail authentication records of DOMAIN...",
    ),
    "db": LazyCommand("flask_migrate.cli:db", "Perform database migrations."),
    "digest": LazyCommand("msp.notifications.cli:digest", "The weekly posture digest."),
    "ingest": LazyCommand(
        "msp.reports.cli:ingest",
        "Ingest DMARC aggregate, failure and TLS report files or folders (recursively).",
    ),
    "notify": LazyCommand(
        "msp.notifications.cli:notify", "Notification teams, endpoints and deliveries."
    ),
    "openapi": LazyCommand("flask_smorest.spec:openapi_cli", "OpenAPI commands."),
    "plan": LazyCommand(
        "msp.policy.cli:plan",
        "Show DOMAIN's stage, the record to publish now, the next stage and every gate.",
    ),
    "simulate": LazyCommand(
        "msp.policy.cli:simulate",
        "Replay DOMAIN's last N days of aggregate data under a proposed record.",
    ),
    "web": LazyCommand(
        "msp.serving:web",
        "Serve the web app and API with gunicorn (SIGTERM: finish requests, then stop).",
    ),
}

# The modules whose ``COMMANDS`` the table stands for (tests/test_cli_lazy.py checks both agree);
# the table also holds the app's own groups and `alive` (msp/liveness.py).
AREA_CLI_MODULES = (
    "msp.dns.cli",
    "msp.reports.cli",
    "msp.policy.cli",
    "msp.serving",
    "msp.notifications.cli",
    "msp.billing.cli",
)


class LazyFlaskGroup(FlaskGroup):
    """A FlaskGroup that lists ``LAZY_COMMANDS`` from the table and imports one only when it
    is looked up. Listing never loads the app: the app's commands are in the table too. A
    name in neither place still falls back to the app's commands, as FlaskGroup does."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, LazyCommand], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted(set(self.commands) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy_commands:
            self.add_command(self.lazy_commands[name].load(), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Click's listing, with the table's help for commands not imported yet."""
        commands = [(name, self._command_for_help(name)) for name in self.list_commands(ctx)]
        commands = [(name, command) for name, command in commands if not command.hidden]
        if not commands:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in commands)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in commands])

    def _command_for_help(self, name: str) -> click.Command:
        command = self.commands.get(name)
        if command is not None:
            return command
        # A stand-in so click shortens the table's help exactly as it would the real one.
        return click.Command(name, help=self.lazy_commands[name].help)


def _make_app() -> Flask:
    return create_app()


def _emit(rows: Any, as_json: bool, columns: tuple[str, ...]) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    items = rows if isinstance(rows, list) else [rows]
    for row in items:
        click.echo("  ".join(str(row.get(c, "")) for c in columns))


def _commit() -> None:
    from msp.extensions import db

    db.session.commit()


@click.group(
    cls=LazyFlaskGroup,
    create_app=_make_app,
    add_default_commands=False,
    add_version_option=False,
    lazy_commands=LAZY_COMMANDS,
)
def cli() -> None:
    """MSP DMARC platform: from 'anyone can spoof us' to p=reject, safely."""


# --- tenants ---------------------------------------------------------------------------------


@cli.group()
def tenants() -> None:
    """Create and list tenants (the MSP's clients)."""


def _tenant_row(t: Any) -> dict[str, Any]:
    return {
        "id": t.id,
        "slug": t.slug,
        "name": t.name,
        "timezone": t.timezone,
        "plan": t.plan,
        "status": t.status,
        "report_token": t.report_token,
    }


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
    _commit()
    _emit(_tenant_row(tenant), as_json, ("id", "slug", "name"))


@tenants.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def tenants_list(as_json: bool) -> None:
    """List all tenants."""
    from sqlalchemy import select

    from msp.extensions import db
    from msp.tenancy.models import Tenant

    rows = [_tenant_row(t) for t in db.session.scalars(select(Tenant).order_by(Tenant.slug))]
    _emit(rows, as_json, ("id", "slug", "name", "plan"))


@tenants.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def tenants_show(slug: str, as_json: bool) -> None:
    """Show tenant SLUG."""
    _emit(
        _tenant_row(_tenant_or_exit(slug)),
        as_json,
        ("id", "slug", "name", "timezone", "plan", "report_token"),
    )


def _tenant_or_exit(slug: str) -> Any:
    from msp.tenancy.service import tenant_by_slug

    tenant = tenant_by_slug(slug)
    if tenant is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return tenant


# --- domains ---------------------------------------------------------------------------------


@cli.group()
def domains() -> None:
    """Add and list domains."""


def _domain_row(d: Any) -> dict[str, Any]:
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

    tenant = _tenant_or_exit(slug)
    try:
        added = [
            add_domain(tenant, n, dkim_selectors=list(selectors), parked=parked) for n in names
        ]
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    _commit()
    _emit([_domain_row(d) for d in added], as_json, ("id", "name"))


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
        stmt = stmt.where(Domain.tenant_id == _tenant_or_exit(slug).id)
    _emit([_domain_row(d) for d in db.session.scalars(stmt)], as_json, ("id", "name", "tenant_id"))


# --- users and tokens ------------------------------------------------------------------------


@cli.group()
def users() -> None:
    """Create and list users."""


@users.command("create")
@click.argument("email")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["msp_admin", "msp_staff", "tenant_admin", "tenant_viewer"]),
)
@click.option("--tenant", "slug", help="tenant slug (tenant roles)")
@click.option("--password", help="default: generated and printed once")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def users_create(
    email: str, role: str, slug: str | None, password: str | None, as_json: bool
) -> None:
    """Create a user; prints the password once when it was generated."""
    user, password = _create_user(email, role, slug, password)
    _commit()
    _emit(
        {"id": user.id, "email": user.email, "role": role, "password": password},
        as_json,
        ("id", "email", "role", "password"),
    )


def _create_user(email: str, role: str, slug: str | None, password: str | None) -> tuple[Any, str]:
    from msp.auth.users import create_user
    from msp.errors import AppError

    password = password or secrets.token_urlsafe(12)
    data: dict[str, Any] = {"email": email, "password": password}
    if role.startswith("msp_"):
        data["msp_role"] = role
    else:
        if not slug:
            raise click.ClickException("tenant roles need --tenant SLUG")
        data.update(tenant_id=_tenant_or_exit(slug).id, tenant_role=role)
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
    _emit(rows, as_json, ("id", "email", "msp_role"))


@cli.command("create-admin")
@click.argument("email", required=False, default="admin@localhost")
@click.option("--password", help="default: generated and printed once")
@with_appcontext
def create_admin(email: str, password: str | None) -> None:
    """Create the first MSP admin (does nothing when an admin exists)."""
    from msp.bootstrap import ensure_first_admin

    created = ensure_first_admin(email, password)
    _commit()
    if created:
        click.echo(f"MSP admin {created[0]} created; password: {created[1]}")
    else:
        click.echo("an MSP admin exists already")


@cli.group()
def tokens() -> None:
    """Create, list and revoke API tokens."""


@tokens.command("create")
@click.option("--name", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["msp_admin", "msp_staff", "tenant_admin", "tenant_viewer"]),
)
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
    tenant_id = _tenant_or_exit(slug).id if slug else None
    issued = issue_token(
        operator, name=name, tenant_id=tenant_id, role=role, days=days, now=utcnow()
    )
    _commit()
    _emit(
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
    _emit(rows, as_json, ("id", "name", "prefix", "role", "revoked"))


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
    _commit()
    click.echo(f"token {token_id} revoked")


# --- configuration ---------------------------------------------------------------------------


@cli.command("settings")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def settings_command(as_json: bool) -> None:
    """Every MSP_* setting: its value here (secrets masked) and what it is for."""
    import os

    from msp.config import all_settings, load_config, redacted

    values = redacted(load_config(os.environ))
    rows = [
        {"name": f"MSP_{s.name}", "value": values.get(s.name), "secret": s.secret, "help": s.help}
        for s in all_settings()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        click.echo(f"{row['name']:<32} {row['value']!s:<28} {row['help']}")


# --- processes -------------------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="seed a demo tenant from the sample reports on first start",
)
@with_appcontext
def standalone(host: str, port: int, demo: bool) -> None:
    """Run everything in one process: migrate, first admin, worker and schedule threads, web."""
    from msp.bootstrap import run_standalone

    run_standalone(host, port, demo)


def _liveness_option(process: str) -> Any:
    return click.option(
        "--liveness-file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=LIVENESS_FILE_ENV,
        show_envvar=True,
        help=f"touch this file each time the {process} loop turns (for `msp alive`)",
    )


@cli.command()
@click.option(
    "--queues",
    "-q",
    default="checks,reports,notifications,default",
    show_default=True,
    help="comma-separated queue names, in priority order",
)
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
@click.option("--name", help="worker name")
@_liveness_option("worker")
@with_appcontext
def worker(queues: str, burst: bool, name: str | None, liveness_file: Path | None) -> None:
    """Run an RQ worker (SIGTERM: finish the current job, then stop)."""
    from msp.bootstrap import run_worker

    run_worker(
        [q.strip() for q in queues.split(",") if q.strip()],
        burst=burst,
        name=name,
        liveness_file=liveness_file,
    )


@cli.command()
@_liveness_option("scheduler")
@with_appcontext
def scheduler(liveness_file: Path | None) -> None:
    """Run the one periodic-job scheduler (RQ cron). Run exactly one."""
    from msp.bootstrap import run_scheduler

    run_scheduler(liveness_file=liveness_file)


def main() -> None:
    cli.main(args=sys.argv[1:], prog_name="msp")
