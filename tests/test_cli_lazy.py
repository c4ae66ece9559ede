"""`msp` loads area commands lazily: the names and one-line helps in msp/areas.py stay true to
the real commands, `msp --help` lists them all without importing them, and running one
imports only its own module."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from flask import Flask

from msp.cli import AREA_CLI_MODULES, LAZY_COMMANDS, cli
from tests.support.dns_server import KnotServer, txt, zone


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
    for name in ("plan", "worker", "scheduler", "standalone"):
        with click.Context(cli) as root:
            root.invoked_subcommand = name
            apps[name] = _make_app()
    assert LAZY_COMMANDS["plan"].app == "light"
    for light in ("plan", "worker", "scheduler"):  # the worker and scheduler serve no HTTP
        assert "msp_api" not in apps[light].extensions and "web" not in apps[light].blueprints
        assert "sqlalchemy" in apps[light].extensions
    assert "msp_api" in apps["standalone"].extensions and "web" in apps["standalone"].blueprints


# --- what `msp plan` and `msp check` load (issue #15: the command starts in under a second) ---
# Never timed here (speed is bench/startup_bench.py's business): these tests pin the modules
# each path must not import, so a top-level import that drags one back in fails at once.

# Loaded only where they are used: HTTPS fetches (httpx, and msp.netguard, which subclasses its
# transport), truncated answers (dns.asyncquery and dns.query, which pull dnspython's
# DNS-over-HTTPS client httpx2), answers the fast codec cannot read (dns.message), running a
# check (the checker, cryptography for DKIM keys), and the areas a plan does not touch.
NOT_ON_THE_PLAN_PATH = {
    "httpx",
    "httpx2",
    "dns.query",
    "dns.asyncquery",
    "dns.message",
    "msp.netguard",
    "msp.dns.checker",
    "cryptography",
    "parsedmarc",
    "stripe",
    "redis",
    "rq",
    "alembic",
    "flask_migrate",
    "flask_smorest",
    "marshmallow",
    "msp.api",
    "msp.web",
    "msp.reports.cli",
    "msp.publishing.cli",
}
NOT_ON_THE_CHECK_PATH = {
    "flask",
    "werkzeug",
    "sqlalchemy",
    "msp.commands",
    "msp.extensions",
    "httpx",
    "httpx2",
    "dns.query",
    "dns.asyncquery",
    "msp.netguard",
}


def _main_in_fresh_process(env: dict[str, str], *args: str) -> tuple[str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _MAIN_PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    *output, modules = done.stdout.splitlines()
    return "\n".join(output), set(json.loads(modules))


def _sqlite_with_a_domain(path: Path, name: str) -> str:
    """A standalone SQLite database (the schema the models declare) holding one domain."""
    from msp import create_app
    from msp.domains.models import Domain
    from msp.extensions import db
    from msp.tenancy.models import Tenant
    from tests.conftest import test_config

    url = f"sqlite:///{path}"
    app = create_app(test_config(url, None))
    with app.app_context():
        db.create_all()
        tenant = Tenant(slug="lazy", name="Lazy")
        db.session.add(tenant)
        db.session.flush()
        db.session.add(Domain(tenant_id=tenant.id, name=name))
        db.session.commit()
        db.engine.dispose()
    return url


def test_msp_plan_reads_a_domain_without_the_checker_http_or_the_web_layer(
    tmp_path: Path,
) -> None:
    url = _sqlite_with_a_domain(tmp_path / "msp.sqlite3", "lazy-plan.example")
    env = {**os.environ, "MSP_DATABASE_URL": url, "MSP_ENV": "test", "MSP_SECRET_KEY": "x" * 32}
    output, modules = _main_in_fresh_process(env, "plan", "lazy-plan.example")
    assert output.startswith("lazy-plan.example: none"), output
    assert "next stage:  monitor" in output
    assert {"msp.policy.cli", "msp.policy.service", "sqlalchemy", "flask"} <= modules
    assert not NOT_ON_THE_PLAN_PATH & modules, NOT_ON_THE_PLAN_PATH & modules


def test_msp_check_checks_a_real_zone_without_flask_http_or_dnspythons_query_modules() -> None:
    records = [f"@ TXT {txt('v=spf1 ip4:192.0.2.0/24 -all')}", "@ MX 10 mail.lazy-check.test."]
    with KnotServer({"lazy-check.test": zone("lazy-check.test", records)}) as knot:
        output, modules = _main_in_fresh_process(
            {**os.environ, "MSP_DNS_NAMESERVERS": knot.nameserver},
            "check",
            "lazy-check.test",
            "--no-probe",
        )
    assert "lazy-check.test  grade" in output
    assert "v=spf1 ip4:192.0.2.0/24 -all" in output and "mail.lazy-check.test" in output
    assert {"msp.dns.checker", "msp.dns.resolver"} <= modules
    assert not NOT_ON_THE_CHECK_PATH & modules, NOT_ON_THE_CHECK_PATH & modules


def test_a_truncated_answer_still_comes_whole_over_tcp() -> None:
    """The TCP retry now imports dnspython's query module itself, only when an answer is
    truncated: a TXT record larger than one UDP answer still arrives complete."""
    from msp.dns.resolver import Nameserver, Resolver, ResolverSettings, Status

    big = "v=spf1 " + " ".join(f"ip4:198.51.100.{i}" for i in range(1, 120)) + " -all"
    assert len(big) > 1500  # over the 1232-byte EDNS payload the resolver offers
    with KnotServer({"big-txt.test": zone("big-txt.test", [f"@ TXT {txt(big)}"])}) as knot:
        host, port = knot.nameserver.split(":")
        settings = ResolverSettings((Nameserver(host, int(port)),), timeout=2.0, retries=1)

        async def lookup() -> tuple[Any, int]:
            resolver = Resolver(settings)
            try:
                return await resolver.lookup("big-txt.test", "TXT"), resolver.stats.queries
            finally:
                await resolver.close()

        answer, queries = asyncio.run(lookup())
    assert answer.status is Status.ANSWER and answer.records == (big,)
    assert queries == 2  # the truncated UDP answer, then TCP
