"""The ``msp`` command's entry point and its table of commands.

``MSP_DATABASE_URL`` and ``MSP_REDIS_URL`` select the database and the queue (unset Redis: jobs
run in-process). The group and the process commands live in ``msp/commands.py``; every other
command belongs to an area (``msp/<area>/cli.py`` exports ``COMMANDS``) and is named, with its
one-line help and what it needs of the app, in ``msp/areas.py``. Nothing here imports Flask:
a command that needs no app (``msp check``, the liveness probe) runs without it, and the others
import only their own module and build only as much of the app as they use.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from msp import areas

if TYPE_CHECKING:
    from msp.commands import LazyFlaskGroup


@dataclass(frozen=True)
class LazyCommand:
    """A command the group imports only when it runs: ``target`` is ``module:attribute``;
    ``help`` is its one-line help for ``msp --help`` (tests/test_cli_lazy.py keeps it true);
    ``app`` what it needs of the app (msp/areas.py)."""

    target: str
    help: str
    app: areas.AppNeed = "full"

    def load(self) -> click.Command:
        command = areas.resolve(self.target)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command


# Every area command (and the app's own `db` and `openapi` groups), by name, from msp/areas.py.
# Importing them all took seconds (parsedmarc, alembic, dnspython, gunicorn...), and listing the
# app's commands built the whole app: `msp --help` paid for both.
LAZY_COMMANDS: Mapping[str, LazyCommand] = {
    command.name: LazyCommand(command.target, command.help, command.app)
    for command in areas.commands()
}

# The modules whose ``COMMANDS`` the table stands for (tests/test_cli_lazy.py checks both agree);
# the table also holds the app's own groups (flask_migrate, flask_smorest).
AREA_CLI_MODULES = tuple(
    sorted({c.module for c in areas.commands() if c.module.split(".")[0] == "msp"})
)


def __getattr__(name: str) -> Any:
    """``msp.cli.cli``: the group, imported (with Flask) only when asked for."""
    if name == "cli":
        from msp.commands import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    args = sys.argv[1:]
    entry = LAZY_COMMANDS.get(args[0]) if args else None
    if entry is not None and entry.app == "none":
        # No app, so no FlaskGroup: Flask and its dependencies are never imported.
        entry.load().main(args=args[1:], prog_name=f"msp {args[0]}")
        return
    group: LazyFlaskGroup = __getattr__("cli")
    group.main(args=args, prog_name="msp")
