"""The ``msp`` group (a FlaskGroup that loads the areas' commands lazily) and the commands that
run the platform's processes (``standalone``, ``worker``, ``scheduler``) and show its settings.

Every other command belongs to an area (``msp/<area>/cli.py`` exports ``COMMANDS``) and is
named, with its one-line help, in ``msp/areas.py``; ``msp/cli.py`` is the entry point.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from msp.command_table import LAZY_COMMANDS, LazyCommand
from msp.liveness import LIVENESS_FILE_ENV


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


# The process commands that serve no HTTP: no API or pages to build (a worker starts in about
# a second less); they set up the app's logging themselves (msp/bootstrap.py).
_WITHOUT_HTTP = frozenset({"worker", "scheduler"})


def _make_app() -> Flask:
    """The app for the command being run: without the API and pages when it needs only the
    database (``app="light"`` in msp/areas.py, the worker and the scheduler), else the whole
    app."""
    from msp import create_app

    context = click.get_current_context(silent=True)
    name = context.find_root().invoked_subcommand if context is not None else None
    entry = LAZY_COMMANDS.get(name or "")
    light = name in _WITHOUT_HTTP or (entry is not None and entry.app == "light")
    return create_app(serve=not light)


@click.group(
    cls=LazyFlaskGroup,
    create_app=_make_app,
    add_default_commands=False,
    add_version_option=False,
    lazy_commands=LAZY_COMMANDS,
)
def cli() -> None:
    """MSP DMARC platform: from 'anyone can spoof us' to p=reject, safely."""


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


def _liveness_option(process: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
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
@click.option(
    "--fork/--no-fork",
    default=False,
    envvar="MSP_WORKER_FORK",
    show_default=True,
    show_envvar=True,
    help="run each job in a forked work horse (isolated, but a new database connection and "
    "cold caches per job), or in the worker itself (the default: over twice as fast on a "
    "backlog of reports)",
)
@_liveness_option("worker")
@with_appcontext
def worker(
    queues: str, burst: bool, name: str | None, fork: bool, liveness_file: Path | None
) -> None:
    """Run an RQ worker (SIGTERM: finish the current job, then stop)."""
    from msp.bootstrap import run_worker

    run_worker(
        [q.strip() for q in queues.split(",") if q.strip()],
        burst=burst,
        name=name,
        liveness_file=liveness_file,
        fork=fork,
    )


@cli.command()
@_liveness_option("scheduler")
@with_appcontext
def scheduler(liveness_file: Path | None) -> None:
    """Run the one periodic-job scheduler (RQ cron). Run exactly one."""
    from msp.bootstrap import run_scheduler

    run_scheduler(liveness_file=liveness_file)
