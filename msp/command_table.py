"""The table of the ``msp`` command's subcommands, read from ``msp/areas.py``: below both the
entry point (``msp/cli.py``) and the group (``msp/commands.py``), so neither imports the other
to reach it. No Flask here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import click

from msp import areas


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
