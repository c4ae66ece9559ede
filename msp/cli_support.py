"""What every area's commands share: printing rows (as columns or ``--json``) and the one
commit a command makes."""

from __future__ import annotations

import json
from typing import Any

import click


def emit(rows: Any, as_json: bool, columns: tuple[str, ...]) -> None:
    """Print ``rows`` (a dict or a list of dicts) as JSON, or ``columns`` of each row."""
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    items = rows if isinstance(rows, list) else [rows]
    for row in items:
        click.echo("  ".join(str(row.get(c, "")) for c in columns))


def commit() -> None:
    """A command commits once, at its end (services never commit)."""
    from msp.extensions import db

    db.session.commit()
