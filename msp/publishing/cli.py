"""``msp providers`` (DNS provider accounts and the tenant's publish mode), ``msp publish``
(write a domain's issued change now, or show the diff) and ``msp domains set-provider``
(added to the domains group through ``Area.subcommands`` in msp/areas.py).
Each command commits once at its end."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import with_appcontext

from msp.cli_support import commit, emit
from msp.errors import AppError
from msp.publishing.providers import kinds
from msp.publishing.settings import Mode, publish_settings
from msp.tenancy.cli import tenant_or_exit

if TYPE_CHECKING:
    from msp.domains.models import Domain

# The models and services (SQLAlchemy, dnspython) are imported by each command when it runs:
# `msp domains --help` loads this module for its set-provider subcommand and should stay light.


def _key() -> str | None:
    return current_app.config.get("MSP_ENCRYPTION_KEY")


def _options(pairs: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        options[name.strip()] = value
    return options


def _domain(name: str) -> Domain:
    from msp.domains.service import domain_by_name

    domain = domain_by_name(name)
    if domain is None:
        raise click.ClickException(f"no domain {name!r}")
    return domain


@click.group("providers")
def providers() -> None:
    """DNS provider accounts."""


@providers.command("add")
@click.argument("name")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@click.option("--kind", required=True, type=click.Choice(kinds()))
@click.option("--option", "pairs", multiple=True, help="KEY=VALUE (repeat)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def add(name: str, slug: str, kind: str, pairs: tuple[str, ...], as_json: bool) -> None:
    """Add provider account NAME (options of rfc2136: server, tsig_name, tsig_secret, ...)."""
    from msp.publishing import accounts

    try:
        row = accounts.add_provider(tenant_or_exit(slug), name, kind, _options(pairs), _key())
    except AppError as exc:
        raise click.ClickException(f"{exc.detail} {exc.errors or ''}".strip()) from exc
    commit()
    emit(accounts.provider_view(row), as_json, ("id", "name", "kind", "options"))


@providers.command("list")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def list_(slug: str, as_json: bool) -> None:
    """List the tenant's provider accounts (never their secrets)."""
    from msp.publishing import accounts

    rows = [accounts.provider_view(r) for r in accounts.list_providers(tenant_or_exit(slug).id)]
    emit(rows, as_json, ("id", "name", "kind", "options", "secrets_set"))


@providers.command("test")
@click.argument("name")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@click.option("--zone", help="zone to read (default: the zones of its domains)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def test(name: str, slug: str, zone: str | None, as_json: bool) -> None:
    """Prove NAME's credentials can read the zone; exit 1 when they cannot."""
    from msp.publishing import accounts

    try:
        row = accounts.provider_named(tenant_or_exit(slug).id, name)
        timeout = publish_settings(current_app.config).timeout
        results = accounts.test_provider(row, zone, _key(), timeout)
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    commit()
    emit(results, as_json, ("zone", "ok", "detail"))
    if not all(r["ok"] for r in results):
        raise SystemExit(1)


@providers.command("remove")
@click.argument("name")
@click.option("--tenant", "slug", required=True, help="tenant slug")
@with_appcontext
def remove(name: str, slug: str) -> None:
    """Remove provider account NAME (its domains fall back to manual publishing)."""
    from msp.publishing import accounts

    try:
        accounts.delete_provider(accounts.provider_named(tenant_or_exit(slug).id, name))
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    commit()


@providers.command("mode")
@click.argument("mode", type=click.Choice([m.value for m in Mode]))
@click.option("--tenant", "slug", required=True, help="tenant slug")
@with_appcontext
def mode(mode: str, slug: str) -> None:
    """Set the tenant's publish mode (manual, on_approval, automatic)."""
    from msp.publishing import accounts

    try:
        accounts.set_tenant_mode(tenant_or_exit(slug), mode)
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    commit()


@click.command("set-provider")
@click.argument("domain_name", metavar="DOMAIN")
@click.argument("provider_name", metavar="PROVIDER", required=False)
@click.option("--zone", help="zone to write in (default: the domain; may be a parent)")
@click.option("--mode", type=click.Choice([m.value for m in Mode]), help="override the tenant's")
@click.option("--delegated", is_flag=True, help="publish into the MSP's hosted zone instead")
@click.option(
    "--mta-sts",
    "mta_sts_mode",
    type=click.Choice(["enforce", "testing", "none"]),
    help="serve this MTA-STS policy at mta-sts.DOMAIN (delegated domains)",
)
@with_appcontext
def set_provider(
    domain_name: str,
    provider_name: str | None,
    zone: str | None,
    mode: str | None,
    delegated: bool,
    mta_sts_mode: str | None,
) -> None:
    """Set DOMAIN's DNS provider account, zone and publish mode."""
    from msp.publishing import accounts

    domain = _domain(domain_name)
    try:
        provider_id = (
            accounts.provider_named(domain.tenant_id, provider_name).id if provider_name else None
        )
        accounts.set_domain_provider(
            domain,
            provider_id,
            zone=zone,
            mode=mode,
            delegated=delegated,
            mta_sts_mode=mta_sts_mode,
        )
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    commit()


@click.command("publish")
@click.argument("domain_name", metavar="DOMAIN")
@click.option("--dry-run", is_flag=True, help="show what would be written; write nothing")
@click.option(
    "--force",
    is_flag=True,
    help="write over a hand edit of the record (audited with the values before and after)",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def publish(domain_name: str, dry_run: bool, force: bool, as_json: bool) -> None:
    """Write DOMAIN's issued change through its DNS provider (or show the diff)."""
    from msp.publishing import service

    domain = _domain(domain_name)
    if dry_run and force:
        raise click.UsageError("--dry-run writes nothing: leave out --force")
    try:
        result = service.dry_run(domain) if dry_run else service.publish_domain(domain, force=force)
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    if not dry_run:
        commit()
    if as_json:
        emit(result, True, ())
        return
    records = result["records"] if dry_run else (result["publication"] or {}).get("records", [])
    if not dry_run:
        error = (result["publication"] or {}).get("error")
        why = f" ({error})" if error and result["outcome"] != "written" else ""
        click.echo(f"change {result['change_id']}: {result['outcome']}{why}")
    for record in records:
        before, after = " + ".join(record["before"]) or "(none)", " + ".join(record["after"])
        note = record["hand_edit"] or record["skipped"] or ("" if record["changed"] else "same")
        click.echo(f"{record['name']} {record['type']}: {before} -> {after} {note}".rstrip())
    if not dry_run and result["outcome"] in {"held", "waiting", "failed", "retrying"}:
        raise SystemExit(1)


# ``set_provider`` is not top-level: msp/areas.py adds it to ``msp domains``.
COMMANDS: list[click.Command] = [providers, publish]
