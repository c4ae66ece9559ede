"""The one list of the platform's areas: everything the factory, the CLI and the scheduler load.

Each :class:`Area` names, by dotted module path, what it contributes: its models, its
``SETTINGS``, its API resources (modules exporting ``blp``), its commands (with their one-line
help, so ``msp --help`` lists them without importing anything), its ``CRON`` module and the hooks
it plugs into the foundation (:mod:`msp.hooks`). ``msp/models.py``, ``msp/config.py``,
``msp/api/__init__.py``, ``msp/cli.py`` and ``workers/schedule.py`` derive their lists from
:data:`AREAS`; adding an area is adding one entry here.

Names are strings and are imported only when used (:func:`load`), so importing this module costs
nothing and the foundation never imports an upper area: the dependency runs from this list to
the areas, never from ``msp.tenancy`` or ``msp.domains`` to billing or policy.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

AppNeed = Literal["none", "light", "full"]


@dataclass(frozen=True)
class Command:
    """A top-level ``msp`` command: ``target`` is ``module:attribute``; ``help`` its one-line
    help as click would shorten it (tests/test_cli_lazy.py keeps it true)."""

    name: str
    target: str
    help: str
    # What the command needs of the app: "full" (the default, always safe), "light" (the
    # database and queues, no API or pages: create_app(serve=False), a fraction of the start-up)
    # or "none" (run without Flask at all: `msp check`, the liveness probe).
    app: AppNeed = "full"

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]


@dataclass(frozen=True)
class Subcommand:
    """A command an area adds to another area's group: ``group`` is the group's ``target``
    (``msp.domains.cli:domains``), ``name`` the subcommand's name, ``target`` the command."""

    group: str
    name: str
    target: str


@dataclass(frozen=True)
class Area:
    """What one area contributes; every name is a dotted module path (``module:attr`` for
    functions)."""

    name: str
    models: tuple[str, ...] = ()
    settings: str | None = None
    api: tuple[str, ...] = ()
    commands: tuple[Command, ...] = ()
    subcommands: tuple[Subcommand, ...] = ()  # added to other areas' groups when they load
    jobs: str | None = None
    # Hooks into the foundation (see msp/hooks.py): checks run before a domain is added, and
    # validators of the tenant settings keys this area owns.
    domain_add_checks: tuple[str, ...] = ()
    tenant_settings: tuple[tuple[str, str], ...] = ()


AREAS: tuple[Area, ...] = (
    Area(
        "core",
        models=("msp.events",),
        api=("msp.api.system",),
        commands=(
            Command(
                "alive",
                "msp.liveness:alive",
                "Exit 1 unless a worker or scheduler touched PATH lately (liveness probe).",
                app="none",
            ),
            Command(
                "web",
                "msp.serving:web",
                "Serve the web app and API with gunicorn (SIGTERM: finish requests, then stop).",
            ),
            Command("db", "flask_migrate.cli:db", "Perform database migrations."),
            Command("openapi", "flask_smorest.spec:openapi_cli", "OpenAPI commands."),
        ),
        jobs="workers.core",
    ),
    Area(
        "tenancy",
        models=("msp.tenancy.models",),
        api=("msp.api.tenants",),
        commands=(
            Command(
                "tenants",
                "msp.tenancy.cli:tenants",
                "Create and list tenants (the MSP's clients).",
                app="light",
            ),
        ),
    ),
    Area(
        "auth",
        models=("msp.auth.models",),
        settings="msp.auth.settings",
        api=("msp.api.me", "msp.api.users", "msp.api.tokens", "msp.api.audit"),
        commands=(
            Command("users", "msp.auth.cli:users", "Create and list users.", app="light"),
            Command(
                "tokens",
                "msp.auth.cli:tokens",
                "Create, list and revoke API tokens.",
                app="light",
            ),
            Command(
                "create-admin",
                "msp.auth.cli:create_admin",
                "Create the first MSP admin (does nothing when an admin exists).",
                app="light",
            ),
        ),
    ),
    Area(
        "domains",
        models=("msp.domains.models",),
        api=("msp.api.domains",),
        commands=(
            Command("domains", "msp.domains.cli:domains", "Add and list domains.", app="light"),
        ),
    ),
    Area(
        "dns",
        models=("msp.dns.models",),
        settings="msp.dns.settings",
        api=("msp.api.posture",),
        commands=(
            Command(
                "check",
                "msp.dns.cli:check",
                "Check the e-mail authentication records of DOMAIN...",
                app="none",
            ),
        ),
        jobs="workers.dns",
    ),
    Area(
        "reports",
        models=("msp.reports.models",),
        settings="msp.reports.settings",
        api=("msp.api.reports",),
        commands=(
            Command(
                "ingest",
                "msp.reports.cli:ingest",
                "Ingest DMARC aggregate, failure and TLS report files or folders (recursively).",
            ),
        ),
        jobs="workers.reports",
    ),
    Area(
        "policy",
        models=("msp.policy.models",),
        settings="msp.policy.settings",
        api=("msp.api.policy",),
        commands=(
            Command(
                "plan",
                "msp.policy.cli:plan",
                "Show DOMAIN's stage, the record to publish now, the next stage and every gate.",
                app="light",
            ),
            Command(
                "simulate",
                "msp.policy.cli:simulate",
                "Replay DOMAIN's last N days of aggregate data under a proposed record.",
                app="light",
            ),
            Command(
                "evaluate",
                "msp.policy.cli:evaluate",
                "Run the policy evaluation of DOMAIN... now (propose, withdraw or roll back).",
            ),
            Command(
                "escalations",
                "msp.policy.cli:escalations",
                "Stage changes: list, propose, approve, reject, schedule, advance, roll back.",
            ),
            Command(
                "senders",
                "msp.policy.cli:senders",
                "A domain's senders and the verdict on each (approve, forwarder, abuse, unknown).",
            ),
        ),
        jobs="workers.policy",
        tenant_settings=(("policy", "msp.policy.settings:validation_errors"),),
    ),
    Area(
        "billing",
        models=("msp.billing.models",),
        settings="msp.billing.settings",
        api=("msp.api.billing",),
        commands=(
            Command(
                "billing",
                "msp.billing.cli:billing",
                "Stripe billing: status, sync from Stripe, subscribe or link a tenant.",
            ),
        ),
        jobs="workers.billing",
        domain_add_checks=("msp.billing.service:check_domain_quota",),
    ),
    Area(
        "notifications",
        models=("msp.notifications.models",),
        settings="msp.notifications.settings",
        api=("msp.api.notifications",),
        commands=(
            Command("digest", "msp.notifications.cli:digest", "The weekly posture digest."),
            Command(
                "notify",
                "msp.notifications.cli:notify",
                "Notification teams, endpoints and deliveries.",
            ),
        ),
        jobs="workers.notifications",
    ),
    Area(
        "publishing",
        models=("msp.publishing.models",),
        settings="msp.publishing.settings",
        api=("msp.api.publishing", "msp.publishing.mta_sts"),
        commands=(
            Command("providers", "msp.publishing.cli:providers", "DNS provider accounts."),
            Command(
                "publish",
                "msp.publishing.cli:publish",
                "Write DOMAIN's issued change through its DNS provider (or show the diff).",
            ),
        ),
        subcommands=(
            Subcommand(
                "msp.domains.cli:domains", "set-provider", "msp.publishing.cli:set_provider"
            ),
        ),
        jobs="workers.publishing",
        tenant_settings=(("publishing", "msp.publishing.settings:validation_errors"),),
    ),
    Area("recovery", api=("msp.recovery",), jobs="workers.recovery"),  # outages: 503, re-enqueue
)


def load(name: str) -> ModuleType:
    """Import one module named in :data:`AREAS` (the one place that imports by name)."""
    return importlib.import_module(name)


def resolve(target: str) -> Any:
    """The attribute ``module:attribute`` names; a group gets the subcommands other areas add
    to it (``Area.subcommands``), so its own module never imports theirs."""
    module_name, _, attribute = target.partition(":")
    found = getattr(load(module_name), attribute)
    for sub in (s for area in AREAS for s in area.subcommands if s.group == target):
        found.add_command(resolve(sub.target), sub.name)
    return found


def model_modules() -> Iterator[str]:
    for area in AREAS:
        yield from area.models


def settings_modules() -> Iterator[str]:
    return (area.settings for area in AREAS if area.settings)


def api_modules() -> Iterator[str]:
    for area in AREAS:
        yield from area.api


def commands() -> Iterator[Command]:
    for area in AREAS:
        yield from area.commands


def job_modules() -> Iterator[str]:
    return (area.jobs for area in AREAS if area.jobs)
