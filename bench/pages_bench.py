"""Console page benchmark: the server time of every page of the demo data, as each role.

Builds the demo client (``msp demo``'s data: a month of reports through the real ingestion) on
a scratch PostgreSQL database, with one user per role, checks each demo domain once against a
local knot server and runs the policy engine's evaluation (as the standalone worker does right
after a domain is added), then requests every GET page of the console through the Flask test
client (in process: the figure is the server's own time, no network) ``--requests`` times per
page and role. ``/healthz`` (no database, no template) is the named peer in the same run: each
page's p50 is printed beside the peer's and as a ratio, so a figure from a busy machine is still
read against its own floor.

    .venv/bin/python bench/pages_bench.py [--requests 30] [--budget-ms 150]

Exit status 1 if a page's p99 is over the budget (150 ms, the issue's figure for the demo data).
Needs PostgreSQL on 127.0.0.1 and knot (``knotd``), as the test suite does.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROLES = ("msp_admin", "msp_staff", "tenant_admin", "tenant_viewer")
# Pages with arguments other than a tenant or a domain (one-time links, static files) and the
# pages of a flow in progress (the second factor) are left out.
SKIP = {"web.static", "web.reset_password", "web.accept_invite", "web.login_mfa"}
PEER = "/healthz"


@dataclass(frozen=True)
class Figure:
    role: str
    path: str
    status: int
    p50: float
    p99: float


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def timed(client: FlaskClient, path: str, n: int) -> tuple[int, list[float]]:
    samples: list[float] = []
    status = 0
    get = client.get
    get(path)  # warm: templates compiled, first query plans made
    for _ in range(n):
        started = time.perf_counter()
        response = get(path)
        samples.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    return status, samples


def demo_paths(app: Flask, tenant_id: int, domain_ids: list[int]) -> list[str]:
    """Every GET page of the console, with the demo tenant's and domains' ids filled in."""
    paths: list[str] = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("web.") or "GET" not in (rule.methods or ()):
            continue
        if rule.endpoint in SKIP or rule.endpoint == "web.index":
            continue
        args = set(rule.arguments)
        if args - {"tenant_id", "domain_id"}:
            continue
        for domain_id in domain_ids if "domain_id" in args else [None]:
            values = {"tenant_id": tenant_id, "domain_id": domain_id}
            built = rule.build({k: v for k, v in values.items() if k in args})
            if built is not None:
                paths.append(built[1])
    # the what-if with a record to simulate, and the digest's preview, are pages of their own
    paths += [f"/domains/{d}/what-if?record=v%3DDMARC1%3B+p%3Dreject&days=30" for d in domain_ids]
    paths.append(f"/tenants/{tenant_id}/settings/digest?preview=1")
    return sorted(set(paths))


@contextmanager
def signed_in(app: Flask, email: str) -> Iterator[FlaskClient]:
    from tests.factories import PASSWORD

    client = app.test_client()
    page = client.get("/login").get_data(True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    answer = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 302, f"{email} could not log in"
    yield client


def prepare(app: Flask, tenant_id: int) -> list[int]:
    """Check each demo domain once and evaluate it, as the standalone worker does after a
    domain is added; the domains' ids."""
    from sqlalchemy import select

    from msp.dns import service as dns_service
    from msp.domains.models import Domain
    from msp.extensions import db
    from msp.policy import service as policy_service

    with app.app_context():
        ids = list(db.session.scalars(select(Domain.id).where(Domain.tenant_id == tenant_id)))
        for domain_id in ids:
            dns_service.check_domain_now(domain_id)
            policy_service.evaluate_domain(domain_id, force=True)
        db.session.commit()
    return sorted(ids)


def run(n: int) -> list[Figure]:
    from tests.web.live import USERS, live_console

    figures: list[Figure] = []
    with live_console() as live:
        domain_ids = prepare(live.app, live.demo_tenant_id)
        paths = demo_paths(live.app, live.demo_tenant_id, domain_ids)
        anonymous = live.app.test_client()
        for path in ("/login", "/forgot-password", PEER):
            status, samples = timed(anonymous, path, n)
            figures.append(Figure("signed out", path, status, *_p(samples)))
        for role in ROLES:
            with signed_in(live.app, USERS[role]) as client:
                for path in paths:
                    status, samples = timed(client, path, n)
                    figures.append(Figure(role, path, status, *_p(samples)))
    return figures


def _p(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), percentile(samples, 0.99)


def report(figures: list[Figure], budget: float) -> int:
    peer = next(f for f in figures if f.path == PEER)
    print(f"{'role':<14} {'page':<58} {'status':>6} {'p50 ms':>8} {'p99 ms':>8} {'x peer':>7}")
    over = []
    for f in figures:
        ratio = f.p50 / peer.p50 if peer.p50 else float("nan")
        flag = "  OVER" if f.p99 > budget else ""
        print(
            f"{f.role:<14} {f.path[:58]:<58} {f.status:>6} {f.p50:8.1f} {f.p99:8.1f} "
            f"{ratio:7.1f}{flag}"
        )
        if f.p99 > budget:
            over.append(f)
    pages = [f for f in figures if f.path != PEER]
    worst = max(pages, key=lambda f: f.p99)
    print(
        f"\npeer {PEER}: p50 {peer.p50:.1f} ms, p99 {peer.p99:.1f} ms. {len(pages)} page views; "
        f"slowest p99 {worst.p99:.1f} ms ({worst.role} {worst.path}), "
        f"{worst.p50 / peer.p50:.1f}x the peer's p50. Budget {budget:.0f} ms: "
        + ("every page within it." if not over else f"{len(over)} over it.")
    )
    return 1 if over else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--budget-ms", type=float, default=150.0, help="p99 budget per page")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    figures = run(max(1, args.requests))
    # Page times wait on PostgreSQL, the peer's do not: on a machine busy with other work
    # (load above its 2 cores) the ratio grows with the load. Say what the load was.
    print(f"load average (1 min) {before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    return report(figures, args.budget_ms)


if __name__ == "__main__":
    sys.exit(main())
