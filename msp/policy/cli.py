"""``msp plan DOMAIN`` and ``msp simulate DOMAIN --record ... --days N`` (``--json`` on both)."""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext

from msp.domains.models import Domain
from msp.errors import AppError


def _domain(name: str) -> Domain:
    from msp.domains.service import domain_by_name

    try:
        domain = domain_by_name(name)
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    if domain is None:
        raise click.ClickException(f"no domain {name}")
    return domain


def _print_plan(view: dict[str, Any]) -> None:
    click.echo(f"{view['domain']}: {view['stage']} (readiness {view['readiness']}%)")
    click.echo(f"  record now:  {view['record'] or '(none)'}")
    click.echo(f"  next stage:  {view['next_stage'] or '(end of the road)'}")
    if view["next_record"]:
        click.echo(f"  next record: {view['next_record']}")
    for gate in view["gates"]:
        click.echo(f"  [{gate['status']:7}] {gate['gate']}: {gate['reason']}")
    click.echo(f"  action: {view['action']}: {'; '.join(view['reasons'])}")


@click.command("plan")
@click.argument("domain")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def plan(domain: str, as_json: bool) -> None:
    """Show DOMAIN's stage, the record to publish now, the next stage and every gate."""
    from msp.extensions import db
    from msp.policy import service

    try:
        view = service.plan_view(_domain(domain)).as_dict()
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    db.session.commit()  # a first look creates the domain's plan
    if as_json:
        click.echo(json.dumps(view, indent=2))
    else:
        _print_plan(view)


@click.command("simulate")
@click.argument("domain")
@click.option("--record", required=True, help="the proposed DMARC record (v=DMARC1; p=...)")
@click.option("--days", default=None, type=int, help="days of reports (default: the gates' window)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def simulate(domain: str, record: str, days: int | None, as_json: bool) -> None:
    """Replay DOMAIN's last N days of aggregate data under a proposed record."""
    from msp.policy import service

    try:
        result = service.simulate_domain(_domain(domain), record, days)
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{record} over {result['days']} days with reports")
    for group, outcome in result["totals"].items():
        click.echo(
            f"  {group}: {outcome['quarantined']} quarantined, {outcome['rejected']} rejected"
        )
    for sender in result["senders"]:
        worst = sender["worst"]
        click.echo(
            f"  {sender['name']} ({sender['status']}): {sender['messages']} messages, "
            f"{worst['quarantined']} quarantined, {worst['rejected']} rejected"
        )


COMMANDS = [plan, simulate]
