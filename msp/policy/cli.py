"""The operator's wheel: ``msp plan``, ``msp evaluate``, ``msp simulate``, ``msp escalations``
and ``msp senders`` (``--json`` on each). Everything the API can do to a plan can be done here.

``--at TIMESTAMP`` (ISO 8601, UTC when no offset is given) makes ``plan`` and ``evaluate`` see
the world as of that time (replays, tests); ``evaluate --dry-run`` writes nothing. The commands
act as the operator on the console (``cli``); each write is audited and committed once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import click
from flask.cli import with_appcontext

from msp.domains.models import Domain
from msp.errors import AppError

T = TypeVar("T")
VERDICTS = {"approve": "approved", "forwarder": "forwarder", "abuse": "abuse", "unknown": "unknown"}


def _run(work: Callable[[], T]) -> T:
    """Run a service call; an application error ends the command with its message."""
    try:
        return work()
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc


def _each(domains: list[Domain], work: Callable[[Domain], T]) -> list[T]:
    return [_run(partial(work, domain)) for domain in domains]


def _at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _domain(name: str) -> Domain:
    from msp.domains.service import domain_by_name

    domain = _run(lambda: domain_by_name(name))
    if domain is None:
        raise click.ClickException(f"no domain {name}")
    return domain


def _domains(names: Iterable[str], tenant: str | None, every: bool) -> list[Domain]:
    """The domains named, or every domain of ``tenant``, or (``every``) all of them."""
    from sqlalchemy import select

    from msp.extensions import db
    from msp.tenancy.cli import tenant_or_exit

    found = [_domain(n) for n in names]
    if tenant is not None:
        owner = tenant_or_exit(tenant)
        stmt = select(Domain).where(Domain.tenant_id == owner.id).order_by(Domain.name)
        found += list(db.session.scalars(stmt))
    if every:
        found += list(db.session.scalars(select(Domain).order_by(Domain.name)))
    if not found:
        raise click.UsageError("name a DOMAIN, or give --tenant SLUG or --all")
    return list({d.id: d for d in found}.values())


def _as_operator() -> None:
    """Decisions made here are the operator's, named in the timeline as ``cli:<user>``."""
    import getpass

    from flask import g

    from msp.policy.timeline import ACTOR_KEY

    setattr(g, ACTOR_KEY, f"cli:{getpass.getuser()}")


def _commit() -> None:
    from msp.extensions import db

    db.session.commit()


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _print_plan(view: dict[str, Any]) -> None:
    click.echo(f"{view['domain']}: {view['stage']} (readiness {view['readiness']}%)")
    click.echo(f"  record now:  {view['record'] or '(none)'}")
    click.echo(f"  next stage:  {view['next_stage'] or '(end of the road)'}")
    if view["next_record"]:
        click.echo(f"  next record: {view['next_record']}")
    for gate in view["gates"]:
        click.echo(f"  [{gate['status']:7}] {gate['gate']}: {gate['reason']}")
    if view.get("forwarded"):
        click.echo(f"  {view['forwarded']['summary']}")
    for reason in (view.get("drift") or {}).get("reasons", []):
        click.echo(f"  drift: {reason}")
    click.echo(f"  action: {view['action']}: {'; '.join(view['reasons'])}")


def _plans(domains: list[Domain], at: datetime | None) -> list[dict[str, Any]]:
    from msp.policy import service

    return _each(domains, lambda d: service.plan_view(d, at).as_dict())


def _show(views: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        _echo_json(views[0] if len(views) == 1 else views)
        return
    for view in views:
        _print_plan(view)


@click.command("plan")
@click.argument("domains", nargs=-1)
@click.option("--tenant", help="every domain of the tenant with this slug")
@click.option("--at", "at", help="as of this time (ISO 8601; UTC unless an offset is given)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def plan(domains: tuple[str, ...], tenant: str | None, at: str | None, as_json: bool) -> None:
    """Show DOMAIN's stage, the record to publish now, the next stage and every gate."""
    _show(_plans(_domains(domains, tenant, False), _at(at)), as_json)


@click.command("evaluate")
@click.argument("domains", nargs=-1)
@click.option("--tenant", help="every domain of the tenant with this slug")
@click.option("--all", "every", is_flag=True, help="every domain")
@click.option("--at", "at", help="evaluate as of this time (ISO 8601; UTC unless an offset)")
@click.option("--dry-run", is_flag=True, help="show what would happen, write nothing")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def evaluate(
    domains: tuple[str, ...],
    tenant: str | None,
    every: bool,
    at: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Run the policy evaluation of DOMAIN... now (propose, withdraw or roll back)."""
    from msp.extensions import db
    from msp.policy import service

    moment = _at(at)
    found = _domains(domains, tenant, every)
    savepoint = db.session.begin_nested() if dry_run else None  # a dry run writes nothing
    _each(found, lambda d: service.evaluate_domain(d.id, moment, force=True))
    views = _plans(found, moment)
    if savepoint is not None:
        savepoint.rollback()
    else:
        _commit()
    _show(views, as_json)


@click.command("simulate")
@click.argument("domain")
@click.option("--record", required=True, help="the proposed DMARC record (v=DMARC1; p=...)")
@click.option("--days", default=None, type=int, help="days of reports (default: the gates' window)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def simulate(domain: str, record: str, days: int | None, as_json: bool) -> None:
    """Replay DOMAIN's last N days of aggregate data under a proposed record."""
    from msp.policy import service

    result = _run(lambda: service.simulate_domain(_domain(domain), record, days))
    if as_json:
        _echo_json(result)
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


def change_dict(change: Any) -> dict[str, Any]:
    keys = ("id", "domain_id", "kind", "from_stage", "to_stage", "status", "proposed_by")
    out = {k: getattr(change, k) for k in keys}
    for key in ("proposed_at", "decided_by", "scheduled_for", "published_at", "closed_at"):
        value = getattr(change, key)
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    out["records"] = [r["zone_line"] for r in change.records]
    return out


def _print_change(change: dict[str, Any]) -> None:
    when = change["scheduled_for"] or change["proposed_at"]
    click.echo(
        f"#{change['id']} {change['kind']} {change['from_stage']} -> {change['to_stage']}: "
        f"{change['status']} ({when})"
    )


def _change(change_id: int) -> Any:
    from msp.extensions import db
    from msp.policy.models import PolicyChange

    change = db.session.get(PolicyChange, change_id)
    if change is None:
        raise click.ClickException(f"no escalation #{change_id}")
    return change


def _done(change: Any, as_json: bool) -> None:
    view = change_dict(change)
    _commit()
    if as_json:
        _echo_json(view)
    else:
        _print_change(view)


@click.group("escalations")
@with_appcontext
def escalations() -> None:
    """Stage changes: list, propose, approve, reject, schedule, advance, roll back."""
    _as_operator()


@escalations.command("list")
@click.argument("domains", nargs=-1)
@click.option("--tenant", help="every domain of the tenant with this slug")
@click.option("--all", "every", is_flag=True, help="every domain")
@click.option("--open", "only_open", is_flag=True, help="only changes still open")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def escalations_list(
    domains: tuple[str, ...], tenant: str | None, every: bool, only_open: bool, as_json: bool
) -> None:
    """The stage changes of DOMAIN... (newest first)."""
    from msp.extensions import db
    from msp.policy import service

    found = []
    for domain in _domains(domains, tenant, every):
        found += [change_dict(c) for c in db.session.scalars(service.changes_select(domain))]
    if only_open:
        found = [c for c in found if c["closed_at"] is None]
    if as_json:
        _echo_json(found)
        return
    for change in found:
        _print_change(change)


@escalations.command("propose")
@click.argument("domain")
@click.option("--at", "now", help="act as of this time (ISO 8601; UTC unless an offset)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def escalations_propose(domain: str, now: str | None, as_json: bool) -> None:
    """Propose DOMAIN's next stage (only when every gate passes)."""
    from msp.policy import service

    _done(_run(lambda: service.propose(_domain(domain), _at(now))), as_json)


@escalations.command("approve")
@click.argument("change_id", type=int)
@click.option("--at", "now", help="act as of this time (ISO 8601; UTC unless an offset)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def escalations_approve(change_id: int, now: str | None, as_json: bool) -> None:
    """Approve a proposed change: it is issued at the change window (a rollback at once)."""
    from msp.policy import service

    _done(_run(lambda: service.approve(_change(change_id), _at(now))), as_json)


@escalations.command("reject")
@click.argument("change_id", type=int)
@click.option("--note", help="why")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def escalations_reject(change_id: int, note: str | None, as_json: bool) -> None:
    """Reject a proposed, approved or scheduled change."""
    from msp.policy import service

    _done(_run(lambda: service.reject(_change(change_id), note)), as_json)


@escalations.command("schedule")
@click.argument("change_id", type=int)
@click.argument("at")
@click.option("--at", "now", help="act as of this time (ISO 8601; UTC unless an offset)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def escalations_schedule(change_id: int, at: str, now: str | None, as_json: bool) -> None:
    """Issue an approved change at AT (ISO 8601) instead of the next change window."""
    from msp.policy import service

    moment = _at(at) or datetime.now(UTC)
    _done(_run(lambda: service.schedule(_change(change_id), moment, _at(now))), as_json)


@escalations.command("advance")
@click.argument("change_id", type=int)
@click.option("--at", "now", help="act as of this time (ISO 8601; UTC unless an offset)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def escalations_advance(change_id: int, now: str | None, as_json: bool) -> None:
    """Make the change's timed move now: issue it when due, verify it against the latest DNS
    check, or remind (what the 15-minute sweep does)."""
    from msp.policy import service

    change = _change(change_id)
    moved = _run(lambda: service.advance_change(change.id, _at(now)))
    if not as_json:
        click.echo(f"#{change_id}: {moved}")
    _done(change, as_json)


@escalations.command("rollback")
@click.argument("domain")
@click.option("--reason", required=True, help="why the domain steps back (kept in the timeline)")
@click.option("--at", "now", help="act as of this time (ISO 8601; UTC unless an offset)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def escalations_rollback(domain: str, reason: str, now: str | None, as_json: bool) -> None:
    """Propose a rollback of DOMAIN by hand, with a reason."""
    from msp.policy import service

    _done(_run(lambda: service.propose_rollback(_domain(domain), reason, _at(now))), as_json)


@click.group("senders")
def senders() -> None:
    """A domain's senders and the verdict on each (approve, forwarder, abuse, unknown)."""


@senders.command("list")
@click.argument("domain")
@click.option("--days", default=None, type=int, help="days of reports (default: the gates' window)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@with_appcontext
def senders_list(domain: str, days: int | None, as_json: bool) -> None:
    """DOMAIN's senders in the window, busiest first, with their status."""
    from msp.policy import service

    found = _run(lambda: service.sender_list(_domain(domain), days))
    if as_json:
        _echo_json(found)
        return
    for s in found:
        click.echo(
            f"{s['key']}  {s['name']} ({s['status']}{', forwarded' if s['forwarded'] else ''}): "
            f"{s['messages']:,} messages, {s['pass_share']:.0%} pass DMARC, "
            f"last seen {s['last_seen']}"
        )


@senders.command("mark")
@click.argument("domain")
@click.argument("key")
@click.argument("verdict", type=click.Choice(sorted(VERDICTS)))
@click.option("--note", help="why")
@with_appcontext
def senders_mark(domain: str, key: str, verdict: str, note: str | None) -> None:
    """Set the verdict on DOMAIN's sender KEY (approve, forwarder, abuse, unknown)."""
    from msp.reports.service import set_sender_status

    sender = _run(lambda: set_sender_status(_domain(domain), key, VERDICTS[verdict], note))
    _commit()
    click.echo(f"{domain}: {sender.key} is {sender.status}")


COMMANDS = [plan, evaluate, simulate, escalations, senders]
