#!/usr/bin/env python3
"""Policy engine fleet benchmark: the engine against calendar-only escalation (the manual
practice of stepping up after fixed soak times) in the same synthetic world.

The world and its driver live in ``tests/policy/fleet.py`` (the proof test runs them too).
Prints, for each, the median days to ``p=reject``, the legitimate messages lost to escalation
decisions and those exposed to breaks after escalation, and the wall time; then the ratios.

    .venv/bin/python bench/policy_fleet.py --domains 60 --days 120 --seed 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.policy.fleet import Fleet, FleetReport


def _run(domains: int, days: int, seed: int, careless: bool) -> tuple[FleetReport, float]:
    started = time.perf_counter()
    report = Fleet(domains=domains, days=days, seed=seed, careless=careless).run()
    return report, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=60)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    engine, engine_s = _run(args.domains, args.days, args.seed, careless=False)
    peer, peer_s = _run(args.domains, args.days, args.seed, careless=True)
    for name, report, seconds in (("engine", engine, engine_s), ("calendar", peer, peer_s)):
        print(f"{name:8} {report.summary()} [{seconds:.1f} s]")
    print(
        f"ratio: legitimate messages lost {engine.lost_to_escalation} vs "
        f"{peer.lost_to_escalation}; exposed after escalation "
        f"{engine.exposed_after_escalation / max(peer.exposed_after_escalation, 1):.2f}x; "
        f"median days to p=reject "
        f"{engine.median_days_to_reject / peer.median_days_to_reject:.2f}x"
    )


if __name__ == "__main__":
    main()
