"""`msp` loads area commands lazily: the names and one-line helps in msp/areas.py stay true to
the real commands, `msp --help` lists them all without importing them, and running one
imports only its own module."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import click
import pytest
from flask import Flask

from msp.cli import AREA_CLI_MODULES, LAZY_COMMANDS, cli


def _area_commands() -> dict[str, click.Command]:
    commands: dict[str, click.Command] = {}
    for module_name in AREA_CLI_MODULES:
        for command in importlib.import_module(module_name).COMMANDS:
            assert command.name not in commands, f"{command.name} is defined twice"
            commands[str(command.name)] = command
    return commands


def test_the_table_names_every_area_command_and_every_app_command(app: Flask) -> None:
    app_commands = set(app.cli.list_commands(click.Context(app.cli)))
    assert set(LAZY_COMMANDS) == set(_area_commands()) | app_commands
    assert not set(LAZY_COMMANDS) & set(cli.commands) - set(LAZY_COMMANDS), "defined twice"


@pytest.mark.parametrize("name", sorted(LAZY_COMMANDS))
def test_each_table_entry_loads_the_command_of_that_name_with_that_help(name: str) -> None:
    entry = LAZY_COMMANDS[name]
    command = entry.load()
    assert command.name == name
    assert entry.help == command.get_short_help_str(limit=10_000)
    stand_in = click.Command(name, help=entry.help)
    for width in (20, 45, 60, 80):
        assert stand_in.get_short_help_str(width) == command.get_short_help_str(width)


_PROBE = """
import json, sys
from click.testing import CliRunner
from msp.cli import cli
result = CliRunner().invoke(cli, sys.argv[1:], prog_name="msp")
print(json.dumps({"exit": result.exit_code, "output": result.output,
                  "modules": sorted(m for m in sys.modules)}))
"""


def _run_msp_in_fresh_process(*args: str) -> tuple[int, str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    return result["exit"], result["output"], set(result["modules"])


def test_help_lists_every_command_with_its_help_and_imports_none_of_them() -> None:
    exit_code, output, modules = _run_msp_in_fresh_process("--help")
    assert exit_code == 0
    listing = output.split("Commands:")[1]
    for name in [*LAZY_COMMANDS, *cli.commands]:
        assert f"\n  {name} " in listing, name
    assert "Check the e-mail authentication records" in listing
    heavy = {*AREA_CLI_MODULES, "flask_migrate", "alembic", "parsedmarc", "gunicorn", "dns"}
    heavy.discard("msp.liveness")  # light; the process commands' options name its variable
    assert not heavy & modules
    assert "msp.api" not in modules, "listing commands must not build the app"


def test_running_a_command_imports_only_its_own_area() -> None:
    exit_code, output, modules = _run_msp_in_fresh_process("check", "--help")
    assert exit_code == 0 and "--selector" in output
    assert "msp.dns.cli" in modules
    others = {"msp.reports.cli", "msp.billing.cli", "msp.serving", "msp.tenancy.cli", "alembic"}
    assert not others & modules


def test_the_area_commands_left_the_process_group() -> None:
    """msp/cli.py keeps the group and the process commands; tenants, domains, users and tokens
    are their areas' commands."""
    done = subprocess.run(
        [sys.executable, "-c", "from msp.cli import cli; print(' '.join(sorted(cli.commands)))"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # In a fresh process: running commands (earlier tests) adds the loaded ones to the group.
    assert set(done.stdout.split()) == {"settings", "standalone", "worker", "scheduler"}
    for name, module in [
        ("tenants", "msp.tenancy.cli"),
        ("domains", "msp.domains.cli"),
        ("users", "msp.auth.cli"),
        ("tokens", "msp.auth.cli"),
        ("create-admin", "msp.auth.cli"),
    ]:
        assert LAZY_COMMANDS[name].target.startswith(f"{module}:"), name


def test_an_unknown_command_is_still_an_error() -> None:
    exit_code, output, _ = _run_msp_in_fresh_process("no-such-command")
    assert exit_code == 2 and "No such command" in output


_MAIN_PROBE = """
import json, sys
from msp.cli import main
try:
    main()
except SystemExit as stop:
    assert not stop.code, stop.code
print(json.dumps(sorted(sys.modules)))
"""


def test_a_command_without_an_app_runs_without_flask() -> None:
    """`msp check` (and the liveness probe) start in well under a second: no Flask at all."""
    done = subprocess.run(
        [sys.executable, "-c", _MAIN_PROBE, "check", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: msp check" in done.stdout and "--selector" in done.stdout
    modules = set(json.loads(done.stdout.splitlines()[-1]))
    assert "msp.dns.cli" in modules
    assert not {"flask", "werkzeug", "sqlalchemy", "msp.commands"} & modules


def test_a_light_command_gets_the_app_without_api_and_pages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from msp.commands import _make_app

    monkeypatch.setenv("MSP_ENV", "test")
    monkeypatch.setenv("MSP_DATABASE_URL", "sqlite:///:memory:")
    apps = {}
    for name in ("plan", "worker"):
        with click.Context(cli) as root:
            root.invoked_subcommand = name
            apps[name] = _make_app()
    assert LAZY_COMMANDS["plan"].app == "light"
    assert "msp_api" not in apps["plan"].extensions and "web" not in apps["plan"].blueprints
    assert "sqlalchemy" in apps["plan"].extensions
    assert "msp_api" in apps["worker"].extensions and "web" in apps["worker"].blueprints
