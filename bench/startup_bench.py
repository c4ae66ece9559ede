#!/usr/bin/env python3
"""Command start-up benchmark: `msp plan DOMAIN` and `msp check DOMAIN` against checkdmarc.

Each command is run whole, as an operator runs it: a fresh process, from the shell's exec to
its exit, printing its real result (a command that fails or prints something else stops the
benchmark). The set-up, done once and not timed:

* knot serves one small client domain (SPF with an include, DMARC, MX, a DKIM key) on
  127.0.53.53 port 53, because checkdmarc's command line takes only an address (port 53) for
  plain DNS; both checkers ask that server. Where port 53 cannot be bound, knot takes a free
  port on 127.0.0.1 and `checkdmarc DOMAIN` is left out;
* a standalone SQLite database (or, with ``--postgres``, a scratch PostgreSQL database that is
  dropped afterwards) is migrated with `msp db upgrade` and holds that domain (`msp tenants
  create`, `msp domains add`).

Measured, interleaved round by round: `msp plan DOMAIN`, `msp check DOMAIN`, `msp check --help`
and, as the named peer, `checkdmarc DOMAIN` and `checkdmarc --help`, in three bytecode set-ups,
because a Python command starts as fast as its bytecode set-up lets it as much as by its code:

* ``bytecode``: every module's compiled bytecode is cached (a pip or uv install; filled once
  in a private cache, PYTHONPYCACHEPREFIX, so neither the venv nor the checkout is written);
* ``image``: the dependencies' bytecode only, msp/ compiled at every start: the Docker image
  (uv byte-compiles site-packages; the project is installed editable, outside site-packages,
  and PYTHONDONTWRITEBYTECODE=1 keeps Python from caching it);
* ``source``: only the standard library's bytecode (Python ships it compiled), every other
  module compiled at every start: this development venv, which has no __pycache__ and runs
  with PYTHONDONTWRITEBYTECODE=1.

Prints per command and set-up the median and fastest wall time and the median CPU time of the
process, the speed ratios (checkdmarc's time / msp's), and whether `msp plan` and `msp check`
start in under a second. On a shared machine compare the CPU times and the ratios of one run.

    .venv/bin/python bench/startup_bench.py [--rounds 7] [--postgres]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.net import free_udp_tcp_port  # noqa: E402

BIN = Path(sys.executable).parent
MSP, CHECKDMARC = str(BIN / "msp"), str(BIN / "checkdmarc")
DOMAIN = "startup-bench.test"
PEER_ADDRESS = "127.0.53.53"  # a loopback address of its own, so port 53 is free
MODES = ("bytecode", "image", "source")
TARGET_SECONDS = 1.0


@dataclass(frozen=True)
class Case:
    """One command line, who runs it, and what its output must contain."""

    label: str
    argv: list[str]
    expect: str
    peer: bool = False


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float


def dkim_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def zone_text() -> str:
    from tests.support.dns_server import txt, zone

    return zone(
        DOMAIN,
        [
            f"@ TXT {txt('v=spf1 include:_spf.startup-bench.test -all')}",
            f"_spf TXT {txt('v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all')}",
            "@ MX 10 mail.startup-bench.test.",
            "mail A 192.0.2.25",
            f"_dmarc TXT {txt('v=DMARC1; p=none; rua=mailto:dmarc@startup-bench.test')}",
            f"s1._domainkey TXT {txt('v=DKIM1; k=rsa; p=' + dkim_key())}",
        ],
    )


def knot_conf(work: Path, listen: str) -> Path:
    (work / "run").mkdir(parents=True)
    (work / "db").mkdir()
    (work / f"{DOMAIN}.zone").write_text(zone_text())
    conf = work / "knot.conf"
    conf.write_text(
        f'server:\n    rundir: "{work}/run"\n    listen: {listen}\n'
        f'log:\n  - target: "{work}/knot.log"\n    any: info\n'
        f'database:\n    storage: "{work}/db"\n'
        f'template:\n  - id: default\n    storage: "{work}"\n    file: "%s.zone"\n'
        f"    semantic-checks: off\n    zonefile-sync: -1\n    journal-content: none\n"
        f"zone:\n  - domain: {DOMAIN}\n"
    )
    return conf


def _answers(host: str, port: int) -> bool:
    import dns.exception
    import dns.message
    import dns.query

    query = dns.message.make_query(f"{DOMAIN}.", "SOA")
    try:
        return bool(dns.query.udp(query, host, port=port, timeout=0.1).answer)
    except (dns.exception.DNSException, OSError):
        return False


def _start_knot(work: Path, host: str, port: int) -> subprocess.Popen[bytes] | None:
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    proc = subprocess.Popen(
        [knotd, "-c", str(knot_conf(work, f"{host}@{port}"))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        if proc.poll() is not None:
            return None
        if _answers(host, port):
            return proc
        time.sleep(0.05)
    proc.terminate()
    proc.wait(10)
    return None


@contextmanager
def knot(work: Path) -> Iterator[tuple[str, int]]:
    """knot on PEER_ADDRESS:53, else on a free port of 127.0.0.1."""
    proc, host, port = _start_knot(work / "on53", PEER_ADDRESS, 53), PEER_ADDRESS, 53
    if proc is None:
        host, port = "127.0.0.1", free_udp_tcp_port()
        proc = _start_knot(work / "free", host, port)
    if proc is None:
        raise RuntimeError(f"knotd did not start; see {work}/*/knot.log")
    try:
        yield host, port
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def database(work: Path, postgres: str | None) -> Iterator[str]:
    if postgres is None:
        yield f"sqlite:///{work}/msp.sqlite3"
        return
    import sqlalchemy as sa

    name = f"msp_startup_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(postgres).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def base_env(db_url: str, nameserver: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MSP_", "PYTHON"))}
    env.update(
        MSP_ENV="development",
        MSP_DATABASE_URL=db_url,
        MSP_DNS_NAMESERVERS=nameserver,
        MSP_DNS_TIMEOUT="1.0",
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",  # never write __pycache__ into the venv or the checkout
    )
    return env


def run(argv: list[str], env: dict[str, str], expect: str = "") -> Sample:
    """Run one command whole; its wall time and the CPU time of the process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or expect not in done.stdout:
        raise RuntimeError(
            f"{' '.join(argv)} exited {done.returncode} without {expect!r}:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(wall, cpu)


def prepare(env: dict[str, str]) -> None:
    run([MSP, "db", "upgrade", "heads"], env)
    run([MSP, "tenants", "create", "startup-bench"], env, "startup-bench")
    run([MSP, "domains", "add", "--tenant", "startup-bench", "--selector", "s1", DOMAIN], env)


def _cache_of(prefix: Path, source_dir: Path) -> Path:
    """Where PYTHONPYCACHEPREFIX keeps the bytecode of the modules under ``source_dir``."""
    return prefix / source_dir.resolve().relative_to(source_dir.resolve().anchor)


def bytecode_envs(env: dict[str, str], cases: list[Case], work: Path) -> dict[str, dict[str, str]]:
    """One private bytecode cache per set-up, read only while measuring (the venv and the
    checkout are never written to). Every case runs once to fill the ``bytecode`` cache; the
    ``image`` cache is that minus the project's modules, the ``source`` cache keeps only the
    standard library's (which a Python installation ships compiled)."""
    full = work / "pycache-bytecode"
    writer = {**env, "PYTHONPYCACHEPREFIX": str(full)}
    writer.pop("PYTHONDONTWRITEBYTECODE")
    for case in cases:
        run(case.argv, writer, case.expect)
    image, source = work / "pycache-image", work / "pycache-source"
    shutil.copytree(full, image)
    for folder in ("msp", "workers"):
        shutil.rmtree(_cache_of(image, ROOT / folder), ignore_errors=True)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    shutil.copytree(_cache_of(full, stdlib), _cache_of(source, stdlib))
    return {
        mode: {**env, "PYTHONPYCACHEPREFIX": str(prefix), "PYTHONDONTWRITEBYTECODE": "1"}
        for mode, prefix in (("bytecode", full), ("image", image), ("source", source))
    }


def measure(
    cases: list[Case], envs: dict[str, dict[str, str]], rounds: int
) -> dict[tuple[str, str], list[Sample]]:
    samples: dict[tuple[str, str], list[Sample]] = {}
    for _ in range(rounds):  # interleaved: a busy moment hits every command alike
        for mode in MODES:
            for case in cases:
                key = (mode, case.label)
                samples.setdefault(key, []).append(run(case.argv, envs[mode], case.expect))
    return samples


@dataclass(frozen=True)
class Row:
    median: float
    fastest: float
    cpu: float


def rows_of(samples: dict[tuple[str, str], list[Sample]]) -> dict[tuple[str, str], Row]:
    return {
        key: Row(
            statistics.median(s.wall for s in found),
            min(s.wall for s in found),
            statistics.median(s.cpu for s in found),
        )
        for key, found in samples.items()
    }


def report(rows: dict[tuple[str, str], Row], cases: list[Case], rounds: int) -> None:
    print(f"\n{rounds} runs of each command per set-up; seconds (wall median / fastest, CPU)")
    print(f"{'command':<34}" + "".join(f"{mode:>24}" for mode in MODES))
    for case in cases:
        cells = []
        for mode in MODES:
            row = rows[(mode, case.label)]
            cells.append(f"{row.median:6.3f} / {row.fastest:5.3f}, {row.cpu:5.3f}")
        print(f"{case.label:<34}" + "".join(f"{c:>24}" for c in cells))
    pairs = [("msp check DOMAIN", "checkdmarc DOMAIN"), ("msp check --help", "checkdmarc --help")]
    labels = {case.label for case in cases}
    for ours, peer in pairs:
        if peer not in labels:
            print(f"{peer}: not measured (port 53 could not be bound)")
            continue
        ratios = "; ".join(
            f"{mode} x{rows[(mode, peer)].median / rows[(mode, ours)].median:.2f} wall, "
            f"x{rows[(mode, peer)].cpu / rows[(mode, ours)].cpu:.2f} CPU"
            for mode in MODES
        )
        print(f"{peer} time / {ours} time (medians): {ratios}")
    for label in ("msp plan DOMAIN", "msp check DOMAIN"):
        verdicts = ", ".join(
            f"{mode} {'yes' if rows[(mode, label)].median < TARGET_SECONDS else 'NO'}"
            for mode in MODES
        )
        print(f"{label} under {TARGET_SECONDS:.0f} s (median): {verdicts}")
    out = {f"{mode} | {label}": row.__dict__ for (mode, label), row in rows.items()}
    print(json.dumps(out))


def cases_for(nameserver: str, host: str, port: int) -> list[Case]:
    cases = [
        Case("msp plan DOMAIN", [MSP, "plan", DOMAIN], f"{DOMAIN}: "),
        Case("msp check DOMAIN", [MSP, "check", DOMAIN, "--nameserver", nameserver], "grade"),
        Case("msp check --help", [MSP, "check", "--help"], "Usage: msp check"),
        Case("checkdmarc --help", [CHECKDMARC, "--help"], "usage: checkdmarc", peer=True),
    ]
    if port == 53:
        argv = [CHECKDMARC, DOMAIN, "-n", host, "-t", "1.0"]
        cases.insert(3, Case("checkdmarc DOMAIN", argv, f'"domain": "{DOMAIN}"', peer=True))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="runs of each command per set-up")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="use a scratch PostgreSQL database made through this admin URL (default: SQLite)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="msp-startup-"))
    try:
        with knot(work) as (host, port), database(work, args.postgres) as db_url:
            nameserver = f"{host}:{port}"
            env = base_env(db_url, nameserver)
            print(f"knot on {nameserver}; database {db_url.split('://')[0]}; domain {DOMAIN}")
            prepare(env)
            cases = cases_for(nameserver, host, port)
            envs = bytecode_envs(env, cases, work)
            report(rows_of(measure(cases, envs, args.rounds)), cases, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
