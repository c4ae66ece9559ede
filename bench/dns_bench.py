#!/usr/bin/env python3
"""DNS posture benchmark: this project's checker against checkdmarc on the same zones.

Generates N client domains with ``../shared/bench/gen_zones.py`` (SPF records sharing provider
include chains), serves them with knot on a free loopback port, then checks every name

* with this project (one shared cache per process; DKIM selectors from ``selectors.json``, common
  selectors probed where a domain declares none), with 1 and with 2 worker processes, and
* with checkdmarc 6 (sequential, the same nameserver),

and prints domains/s, DNS queries per domain (counted by knot's mod-stats and by our resolver),
the ratios, and how our SPF lookup counts agree with the generator's ground truth.

    .venv/bin/python bench/dns_bench.py --domains 1000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
GEN_ZONES = ROOT.parent / "shared" / "bench" / "gen_zones.py"

from tests.support.dns_server import free_port  # noqa: E402


def generate(out: Path, domains: int, seed: int, port: int) -> None:
    if out.exists():
        shutil.rmtree(out)
    subprocess.run(
        [
            sys.executable,
            str(GEN_ZONES),
            "--out",
            str(out),
            "--domains",
            str(domains),
            "--seed",
            str(seed),
            "--listen",
            f"127.0.0.1@{port}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def knot_queries(conf: Path) -> int:
    out = subprocess.run(
        ["knotc", "-c", str(conf), "stats", "mod-stats.server-operation"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"\[query\] = (\d+)", out)
    return int(match.group(1)) if match else 0


def start_knot(conf: Path, port: int) -> subprocess.Popen[bytes]:
    import dns.message
    import dns.query

    proc = subprocess.Popen(
        ["knotd", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    query = dns.message.make_query("saas.example.", "SOA")
    for _ in range(500):
        try:
            if dns.query.udp(query, "127.0.0.1", port=port, timeout=0.1).answer:
                return proc
        except Exception:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("knot did not start")


def _warm() -> int:
    import checkdmarc  # noqa: F401

    import msp.dns.checker  # noqa: F401

    return os.getpid()


def ours(names: list[str], selectors: dict[str, list[str]], port: int) -> dict[str, object]:
    from msp.dns.checker import DomainRequest, check_fleet
    from msp.dns.options import CheckOptions
    from msp.dns.resolver import Nameserver, ResolverSettings

    options = CheckOptions(
        resolver=ResolverSettings((Nameserver("127.0.0.1", port),), timeout=1.0, retries=2)
    )
    cpu = time.process_time()
    run = check_fleet([DomainRequest(n, tuple(selectors.get(n, ()))) for n in names], options)
    return {
        "seconds": run.seconds,
        "cpu": time.process_time() - cpu,
        "queries": run.stats.queries,
        "timeouts": run.stats.timeouts,
        "spf_lookups": {r.domain: r.spf.dns_lookups for r in run.results},
        "spf_status": {r.domain: r.spf.status for r in run.results},
    }


def peer(names: list[str], port: int) -> dict[str, object]:
    import checkdmarc
    import dns.nameserver

    started, cpu = time.perf_counter(), time.process_time()
    checkdmarc.check_domains(
        names, nameservers=[dns.nameserver.Do53Nameserver("127.0.0.1", port)], timeout=1.0
    )
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def timed(
    pool: ProcessPoolExecutor, parts: list[list[str]], fn: object, *args: object
) -> tuple[float, list[dict[str, object]]]:
    started = time.perf_counter()
    results = list(pool.map(fn, parts, *([a] * len(parts) for a in args)))  # type: ignore[arg-type]
    return time.perf_counter() - started, results


def split(names: list[str], n: int) -> list[list[str]]:
    return [names[i::n] for i in range(n)]


def measure_ours(
    pool: ProcessPoolExecutor,
    workers: int,
    names: list[str],
    selectors: dict[str, list[str]],
    port: int,
    conf: Path,
) -> dict[str, Any]:
    before = knot_queries(conf)
    wall, results = timed(pool, split(names, workers), ours, selectors, port)
    return {
        "seconds": wall,
        "knot_queries": knot_queries(conf) - before,
        "resolver_queries": sum(int(r["queries"]) for r in results),
        "timeouts": sum(int(r["timeouts"]) for r in results),
        "cpu": sum(float(r["cpu"]) for r in results),  # type: ignore[arg-type]
        "results": results,
    }


def measure_peer(
    pool: ProcessPoolExecutor, names: list[str], port: int, conf: Path
) -> dict[str, Any]:
    before = knot_queries(conf)
    wall, results = timed(pool, [names], peer, port)
    return {
        "seconds": wall,
        "knot_queries": knot_queries(conf) - before,
        "cpu": float(results[0]["cpu"]),
    }


def median_row(samples: list[dict[str, Any]]) -> dict[str, float]:
    ordered = sorted(samples, key=lambda s: s["seconds"])
    middle = ordered[len(ordered) // 2]
    row = {k: float(v) for k, v in middle.items() if k != "results"}
    row["runs"] = len(samples)
    row["seconds_all"] = [round(s["seconds"], 2) for s in samples]  # type: ignore[assignment]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians shown")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "dnsworld"))
    parser.add_argument("--skip-peer", action="store_true", help="do not run checkdmarc")
    args = parser.parse_args()
    out, port = Path(args.out), free_port()
    generate(out, args.domains, args.seed, port)
    conf = out / "knot.conf"
    names = (out / "domains.txt").read_text().split()
    selectors = json.loads((out / "selectors.json").read_text())
    truth = {
        t["domain"]: t for t in map(json.loads, (out / "truth.jsonl").read_text().splitlines())
    }
    knot = start_knot(conf, port)
    samples: dict[str, list[dict[str, Any]]] = {}
    try:
        with ProcessPoolExecutor(1) as one, ProcessPoolExecutor(2) as two:
            list(one.map(lambda_warm, range(1)))
            list(two.map(lambda_warm, range(2)))
            for round_no in range(args.rounds):
                first = measure_ours(one, 1, names, selectors, port, conf)
                if round_no == 0:
                    agreement(first["results"][0], truth)
                samples.setdefault("msp, 1 process", []).append(first)
                samples.setdefault("msp, 2 processes", []).append(
                    measure_ours(two, 2, names, selectors, port, conf)
                )
                if not args.skip_peer:  # checkdmarc is sequential by design: one process
                    samples.setdefault("checkdmarc 6, 1 process", []).append(
                        measure_peer(one, names, port, conf)
                    )
    finally:
        knot.terminate()
        knot.wait(10)
    report({name: median_row(rows) for name, rows in samples.items()}, len(names))


def lambda_warm(_: int) -> int:
    return _warm()


def agreement(result: dict[str, object], truth: dict[str, dict[str, object]]) -> None:
    lookups: dict[str, int | None] = result["spf_lookups"]  # type: ignore[assignment]
    checked = [d for d, n in lookups.items() if n is not None]
    same = sum(1 for d in checked if truth[d]["spf_lookups"] == lookups[d])
    print(
        f"SPF lookup count equal to the generator's truth: {same}/{len(checked)} "
        "(the rest are records with a syntax error, which the RFC does not evaluate)"
    )


def report(rows: dict[str, dict[str, float]], count: int) -> None:
    print(f"{count} names checked")
    print(
        f"{'checker':<26} {'seconds':>8} {'domains/s':>10} {'queries/domain':>15} "
        f"{'CPU s':>7} {'domains/CPU s':>14}"
    )
    for name, row in rows.items():
        row["rate"] = count / row["seconds"]
        row["cpu_rate"] = count / row["cpu"]
        print(
            f"{name:<26} {row['seconds']:8.2f} {row['rate']:10.1f} "
            f"{row['knot_queries'] / count:15.2f} {row['cpu']:7.2f} {row['cpu_rate']:14.1f}"
        )
    one, two = rows["msp, 1 process"], rows["msp, 2 processes"]
    print(f"scaling 1 -> 2 processes: x{two['rate'] / one['rate']:.2f}")
    print(
        f"our resolver counted {one['resolver_queries'] / count:.2f} queries/domain "
        f"(knot counted {one['knot_queries'] / count:.2f})"
    )
    peer_row = rows.get("checkdmarc 6, 1 process")
    if peer_row:
        print(
            f"speed ratio msp(1 process)/checkdmarc: x{one['rate'] / peer_row['rate']:.2f}; "
            f"msp(2)/checkdmarc: x{two['rate'] / peer_row['rate']:.2f}; queries ratio "
            f"checkdmarc/msp: x{peer_row['knot_queries'] / one['knot_queries']:.2f}; "
            f"CPU per domain ratio: x{one['cpu_rate'] / peer_row['cpu_rate']:.2f}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
