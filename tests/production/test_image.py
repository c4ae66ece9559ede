"""The container image. Docker's daemon is not available on the CI machines, so the Dockerfile is
checked by reading it (multi-stage, slim base, non-root, health check, no build tools or uv in
the final stage, the README's lock-file install), and its install steps are replayed with uv
into a temporary directory, offline from uv's cache, to prove they produce a working `msp`."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.production.support import REPO
from tests.support.net import free_port


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [value for key, value in self.instructions if key == keyword]


def parse_dockerfile(path: Path) -> list[Stage]:
    """Stages of a Dockerfile: FROM lines start one; continuation lines are joined."""
    text = path.read_text().replace("\\\n", " ")
    build_args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages and "=" in rest:
            name, _, default = rest.partition("=")
            build_args[name] = default
        elif keyword == "FROM":
            words = rest.split()
            base = words[0]
            for name, value in build_args.items():
                base = base.replace(f"${{{name}}}", value)
            stages.append(Stage(base, words[2] if len(words) > 2 else ""))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return stages


STAGES = parse_dockerfile(REPO / "Dockerfile")
BUILDER, FINAL = STAGES[0], STAGES[-1]


def test_image_is_multi_stage_on_a_slim_python_base() -> None:
    assert len(STAGES) >= 2
    assert FINAL.base.startswith("python:3.11-") and "slim" in FINAL.base
    assert any(f"--from={BUILDER.name}" in copy for copy in FINAL.args("COPY"))


def test_builder_installs_exactly_the_lock_file_without_dev_tools() -> None:
    syncs = [run for run in BUILDER.args("RUN") if "uv sync" in run]
    assert syncs and all("--locked" in run and "--no-dev" in run for run in syncs)
    copied = " ".join(BUILDER.args("COPY"))
    assert "uv.lock" in copied and "pyproject.toml" in copied


def test_final_stage_runs_as_non_root_with_no_build_tools_and_a_health_check() -> None:
    users = FINAL.args("USER")
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    runs = " ".join(FINAL.args("RUN"))
    for tool in ("apt-get install", "gcc", "build-essential", "pip install", "uv "):
        assert tool not in runs, tool
    health = FINAL.args("HEALTHCHECK")
    assert health and "/healthz" in health[0]
    assert FINAL.args("ENTRYPOINT") == ['["msp"]'], "exec form: msp itself gets SIGTERM"


def _health_command() -> str:
    options, _, command = FINAL.args("HEALTHCHECK")[0].partition(" CMD ")
    assert "--start-period=" in options
    argv = json.loads(command)
    assert argv[:2] == ["python", "-c"]
    return str(argv[2])


@pytest.mark.parametrize(
    ("cmdline", "healthy"),
    [
        (["msp", "worker", "--queues=checks"], True),
        (["msp", "scheduler"], True),
        (["msp", "web"], False),
    ],
)
def test_health_check_probes_web_containers_and_passes_the_others(
    tmp_path: Path, cmdline: list[str], healthy: bool
) -> None:
    code = _health_command()
    assert "/proc/1/cmdline" in code and "http://127.0.0.1:8000/healthz" in code
    fake = tmp_path / "cmdline"
    fake.write_bytes(b"\0".join(arg.encode() for arg in cmdline) + b"\0")
    # Nothing listens on the port: a web container is unhealthy, the others are not probed.
    code = code.replace("/proc/1/cmdline", str(fake)).replace(":8000/", f":{free_port()}/")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert (done.returncode == 0) is healthy, done.stderr


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", ".tools", "tests", "*.sqlite3"):
        assert entry in ignored, entry


def _uv() -> list[str] | None:
    if shutil.which("uv"):
        return ["uv"]
    for python in ("python3", "python"):
        found = shutil.which(python)
        if (
            found
            and subprocess.run([found, "-m", "uv", "--version"], capture_output=True).returncode
            == 0
        ):
            return [found, "-m", "uv"]
    return None


@pytest.mark.slow
def test_builder_install_steps_produce_a_working_msp_without_dev_packages(tmp_path: Path) -> None:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed on this machine")
    for copy in BUILDER.args("COPY"):
        *sources, _dest = shlex.split(copy)
        for source in sources:
            target = tmp_path / source
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(REPO / source, target)
    env = {
        **os.environ,
        "UV_OFFLINE": "1",
        "UV_LINK_MODE": "copy",
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / ".venv"),
        "UV_PYTHON_DOWNLOADS": "never",
    }
    env.pop("VIRTUAL_ENV", None)
    for run in BUILDER.args("RUN"):
        if run.startswith("uv sync"):
            done = subprocess.run(
                [*uv, *shlex.split(run)[1:]],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, done.stderr
    python = tmp_path / ".venv" / "bin" / "python"
    assert (
        subprocess.run([str(python), "-c", "import pytest"], capture_output=True).returncode != 0
    ), "dev packages stay out"
    help_text = subprocess.run(
        [str(tmp_path / ".venv" / "bin" / "msp"), "--help"],
        capture_output=True,
        text=True,
        env={**env, "MSP_ENV": "test"},
        timeout=300,
    )
    assert help_text.returncode == 0, help_text.stderr
    for command in ("web", "worker", "scheduler", "db"):
        assert f"  {command} " in help_text.stdout, command
    migrations = subprocess.run(
        [
            str(python),
            "-c",
            "import msp, os; print(os.path.isdir(os.path.join("
            "os.path.dirname(msp.__file__), '..', 'migrations', 'versions')))",
        ],
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert migrations.stdout.strip() == "True", "msp db upgrade finds its migrations"
