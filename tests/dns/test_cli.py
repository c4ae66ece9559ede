"""``msp check`` without a database, and one JSON shape whatever a domain's state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from msp.dns.checker import DomainResult
from msp.dns.cli import check as check_command
from tests.dns.world import build_zones
from tests.support.dns_server import KnotServer

ROOT = Path(__file__).resolve().parents[2]


def test_json_output_has_one_object_per_domain_with_the_documented_keys(knot: KnotServer) -> None:
    runner = CliRunner()
    result = runner.invoke(
        check_command,
        [
            "good.test",
            "dm-org.test",
            "--nameserver",
            knot.nameserver,
            "--selector",
            "mail",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [d["domain"] for d in lines] == ["good.test", "dm-org.test"]
    good = lines[0]
    assert set(good) == {
        "domain",
        "checked_at",
        "spf",
        "dmarc",
        "dkim",
        "mx",
        "mta_sts",
        "tls_rpt",
        "bimi",
        "findings",
        "grade",
    }
    assert {"record", "valid", "dns_lookups", "void_lookups", "all"} <= set(good["spf"])
    assert {
        "record",
        "valid",
        "tags",
        "location",
        "policy_applied",
        "policy_applied_rfc7489",
    } <= set(good["dmarc"])
    assert good["dkim"]["mail"]["valid"] is True
    assert set(good["findings"][0]) >= {"code", "severity", "message", "remediation"}


def test_text_output_is_readable(knot: KnotServer) -> None:
    result = CliRunner().invoke(check_command, ["spf-eleven.test", "--nameserver", knot.nameserver])
    assert result.exit_code == 0
    assert "spf-eleven.test  grade" in result.output
    assert "lookups 11/10" in result.output and "spf_too_many_lookups" in result.output


def test_invalid_domain_is_a_usage_error(knot: KnotServer) -> None:
    result = CliRunner().invoke(check_command, ["not a domain", "--nameserver", knot.nameserver])
    assert result.exit_code == 2


def test_msp_check_runs_without_a_database(knot: KnotServer) -> None:
    from msp.cli import cli

    env = {k: v for k, v in os.environ.items() if not k.startswith("MSP_")}
    env["MSP_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"  # unreachable
    result = CliRunner(env=env).invoke(
        cli, ["check", "good.test", "--nameserver", knot.nameserver, "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["spf"]["status"] == "valid"
    module = subprocess.run(
        [sys.executable, "-m", "msp.dns", "good.test", "--nameserver", knot.nameserver, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )
    assert module.returncode == 0 and json.loads(module.stdout)["domain"] == "good.test"


def test_every_scenario_has_the_same_json_shape(check: Callable[..., DomainResult]) -> None:
    shapes = {}
    for name in sorted(build_zones("127.0.0.1")):
        if name == "test":
            continue
        data = check(name).as_dict()
        assert "check_failed" not in {f["code"] for f in data["findings"]}, name
        shapes[name] = {
            key: sorted(value) if isinstance(value, dict) and key != "dkim" else key
            for key, value in data.items()
        }
    reference = shapes["good.test"]
    different = [name for name, shape in shapes.items() if shape != reference]
    assert not different, different
