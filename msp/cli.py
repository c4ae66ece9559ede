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
from typing import TYPE_CHECKING, Any

from msp.command_table import AREA_CLI_MODULES, LAZY_COMMANDS, LazyCommand

if TYPE_CHECKING:
    from msp.commands import LazyFlaskGroup


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


__all__ = ["AREA_CLI_MODULES", "LAZY_COMMANDS", "LazyCommand", "main"]
