"""Drive ``msp web`` on the seeded database and print throughput and latency per endpoint.

    .venv/bin/python -m bench.scale.drive [--seconds 20] [--concurrency 8]

Starts ``msp web`` (gunicorn, 2 workers x 4 threads, --no-access-log, MSP_ENV=production) on
the database ``seed.py`` made, signs the MSP staff user in through the login form (session
cookie) and makes an MSP admin API token (``msp tokens create``). Each of an endpoint's paths
is first requested once to check it answers 200 (not a redirect to the login page), which also
draws it once (what is measured is serving the pages, not their first draws), warmed up for 3 s,
then driven by ``wrk`` (Debian's ``apt-get install wrk``) at the given concurrency for the given
seconds, cycling through 100 domains / 50 tenants picked at random (seed 7) so no single row
stays hot. ``/healthz`` is driven in the same run: each endpoint's req/s is also given as a
ratio to it (``/healthz`` is driven again right before each endpoint, and the ratio compares
the two neighbours: this machine's speed drifts within minutes).
Targets (issue 13): ratio >= 0.5 and p99 < 300 ms at 10 M rows.

``--writes-per-second N`` keeps commits coming while the pages are driven, as report jobs
would: a thread commits N times a second a write attributed to one tenant picked at random
among all of them (``msp.generation.attributed``, as the parse and enrichment jobs do; the
write itself is a no-op UPDATE of that tenant's latest day summary), so the figures show what
the response cache keeps while reports arrive for other clients.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.scale import common
from bench.scale.common import connect


@dataclass
class Endpoint:
    name: str
    paths: list[str]
    auth: str  # "none", "session" or "token"


@dataclass
class Result:
    endpoint: Endpoint
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    body_bytes: int
    reference_rps: float = 0.0  # /healthz measured just before this endpoint
    turn_p99s: tuple[float, ...] = ()  # each turn's p99 (--slices)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_web(
    port: int, workers: int, threads: int, db: str = common.DB_NAME, *, cache: bool = True
) -> subprocess.Popen[bytes]:
    env = common.msp_env(db, redis=True, production=True)
    env["MSP_BASE_URL"] = f"http://127.0.0.1:{port}"
    if not cache:  # every request computes its answer: what a page costs after each write
        env["MSP_PAGE_CACHE_SECONDS"] = "0"
    proc = subprocess.Popen(
        [
            common.MSP,
            "web",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--no-access-log",
        ],
        cwd=common.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(Path(tempfile.gettempdir()) / "scale-drive-web.log", "wb"),  # noqa: SIM115
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _, _ = get(port, "/healthz", {})
            if status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise SystemExit("msp web did not answer /healthz within 60 s")


def get(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def cookie_of(headers: dict[str, str]) -> str:
    return headers.get("set-cookie", "").split(";", 1)[0]


def sign_in(port: int) -> str:
    """The staff user's session cookie, through the login form (CSRF token included)."""
    status, headers, body = get(port, "/login", {})
    match = re.search(rb'name="csrf_token" value="([^"]+)"', body)
    if status != 200 or match is None:
        raise SystemExit(f"login page: {status}")
    form = (
        f"csrf_token={match.group(1).decode()}&email={common.STAFF_EMAIL}"
        f"&password={common.STAFF_PASSWORD}"
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(
        "POST",
        "/login",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie_of(headers),
        },
    )
    resp = conn.getresponse()
    resp.read()
    cookie = cookie_of({k.lower(): v for k, v in resp.getheaders()})
    conn.close()
    if resp.status != 302 or not cookie:
        raise SystemExit(f"sign-in failed: {resp.status}")
    return cookie


def make_token(db: str = common.DB_NAME) -> str:
    out = common.run_msp(
        "tokens",
        "create",
        "--name",
        "scale-bench",
        "--role",
        "msp_admin",
        "--json",
        env=common.msp_env(db),
    )
    data = json.loads(out[out.index("{") :])
    for key in ("token", "secret"):
        if key in data:
            return str(data[key])
    raise SystemExit(f"no secret in msp tokens create's answer: {sorted(data)}")


def endpoints(tenants: list[int], domains: list[int], compliance: str | None) -> list[Endpoint]:
    out = [
        Endpoint("/healthz", ["/healthz"], "none"),
        Endpoint("portfolio page (/dashboard)", ["/dashboard"], "session"),
        Endpoint("tenant page", [f"/tenants/{t}" for t in tenants], "session"),
        Endpoint("domain page", [f"/domains/{d}" for d in domains], "session"),
        Endpoint(
            "domain senders API (30 days)",
            [f"/api/v1/domains/{d}/senders" for d in domains],
            "token",
        ),
    ]
    if compliance:
        out.append(
            Endpoint(
                "compliance chart",
                [
                    compliance.format(tenant_id=t, domain_id=d)
                    for t, d in zip(tenants, domains, strict=False)
                ],
                "session",
            )
        )
    out += [
        Endpoint("domain plan API", [f"/api/v1/domains/{d}/plan" for d in domains], "token"),
        Endpoint("MSP reports list API", ["/api/v1/reports"], "token"),
    ]
    return out


def compliance_route() -> str | None:
    """The compliance chart's own URL, if the app has one (else it is drawn inside the tenant
    page, which is measured)."""
    from msp import create_app

    app = create_app(
        {"DATABASE_URL": common.sa_url(), "SECRET_KEY": "x", "ENV": "development"}, serve=True
    )
    for rule in app.url_map.iter_rules():
        text = str(rule.rule)
        if "compliance" in text and "GET" in (rule.methods or set()):
            return re.sub(r"<(?:int:)?(\w+)>", r"{\1}", text)
    return None


LUA = """
paths = {%s}
counter = 0
%s
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
"""


def run_wrk(
    port: int, ep: Endpoint, headers: dict[str, str], seconds: int, conc: int, warm: bool = True
) -> Result:
    quoted = ",".join(json.dumps(p) for p in ep.paths)
    header_lines = "\n".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()
    )
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(LUA % (quoted, header_lines))
    base = ["wrk", "-t", "2", "-c", str(conc), "-s", str(script), "--timeout", "30s"]
    url = f"http://127.0.0.1:{port}"
    if warm:
        subprocess.run([*base, "-d", "3s", url], capture_output=True, check=True)  # warm-up
    out = subprocess.run(
        [*base, "-d", f"{seconds}s", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    script.unlink()
    return Result(ep, *parse_wrk(out), body_bytes=0)


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out: str) -> tuple[float, float, float, int, int]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = int(bad.group(1)) if bad else 0
    if errors:
        failed += sum(int(x) for x in errors.groups())
    return rps, p50, p99, total, failed


def check(port: int, ep: Endpoint, headers: dict[str, str]) -> int:
    """Every path once: must answer 200 (a redirect would be the login page, not the page).
    This also draws each page once before it is measured: what is measured is serving them,
    not their first draws (``one_request.py`` and ``--no-cache`` measure those)."""
    size = 0
    for path in ep.paths:
        status, _, body = get(port, path, headers)
        if status != 200:
            raise SystemExit(f"{ep.name}: {path} answered {status}: {body[:300]!r}")
        size = max(size, len(body))
    return size


def sample(conn: Any) -> tuple[list[int], list[int], int]:
    rng = random.Random(7)
    tenant_ids = [r[0] for r in conn.execute("SELECT id FROM tenant ORDER BY id")]
    domain_ids = [r[0] for r in conn.execute("SELECT id FROM domain ORDER BY id")]
    records = int(
        common.scalar(
            conn, "SELECT reltuples::bigint FROM pg_class WHERE relname = 'report_record'"
        )
    )
    return (
        rng.sample(tenant_ids, min(50, len(tenant_ids))),
        rng.sample(domain_ids, min(100, len(domain_ids))),
        records,
    )


class Writer:
    """Commits attributed to random tenants, ``per_second`` times a second, in a thread."""

    def __init__(self, per_second: float, attributed: bool = True) -> None:
        import threading

        from msp import create_app

        self.per_second = per_second
        self.attributed = attributed
        self.commits = 0
        self._stop = threading.Event()
        self._app = create_app(
            {
                "ENV": "development",
                "SECRET_KEY": "scale-bench",
                "DATABASE_URL": common.sa_url(),
                "REDIS_URL": common.REDIS_URL,
            },
            serve=False,
        )
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        if self.per_second > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _run(self) -> None:
        from sqlalchemy import func, select, update

        from msp import generation
        from msp.extensions import db
        from msp.reports.models import ReportDomainDay
        from msp.tenancy.models import Tenant

        rng = random.Random(11)
        with self._app.app_context():
            tenants = list(db.session.scalars(select(Tenant.id)))
            db.session.commit()
            while not self._stop.wait(1 / self.per_second):
                tenant = rng.choice(tenants)
                scope = generation.attributed({tenant}) if self.attributed else nullcontext()
                with scope:
                    latest = (
                        select(func.max(ReportDomainDay.day))
                        .where(ReportDomainDay.tenant_id == tenant)
                        .scalar_subquery()
                    )
                    db.session.execute(
                        update(ReportDomainDay)
                        .where(ReportDomainDay.tenant_id == tenant, ReportDomainDay.day == latest)
                        .values(messages=ReportDomainDay.messages)
                    )
                db.session.commit()
                self.commits += 1


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--only", default="", help="comma-separated endpoint names to run (prefixes)")
    ap.add_argument("--rounds", type=int, default=1, help="pairs per endpoint: median ratio")
    ap.add_argument(
        "--slices",
        type=int,
        default=1,
        help="turns /healthz and the endpoint take within a round (the machine's drift cancels)",
    )
    ap.add_argument(
        "--no-cache", action="store_true", help="MSP_PAGE_CACHE_SECONDS=0: no response cache"
    )
    ap.add_argument(
        "--unattributed",
        action="store_true",
        help="the writer's commits say nothing of their tenant (they move the global counter)",
    )
    ap.add_argument(
        "--writes-per-second",
        type=float,
        default=0,
        help="commits attributed to random tenants while driving (report jobs, simulated)",
    )
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    with connect() as conn:
        tenants, domains, records = sample(conn)
        counts = {
            t: int(common.scalar(conn, f"SELECT count(*) FROM {t}"))
            for t in ("tenant", "domain", "report")
        }
    port = free_port()
    web = start_web(port, args.workers, args.threads, cache=not args.no_cache)
    try:
        headers = {
            "none": {},
            "session": {"Cookie": sign_in(port)},
            "token": {"Authorization": f"Bearer {make_token()}"},
        }
        eps = endpoints(tenants, domains, compliance_route())
        if args.only:
            wanted = tuple(args.only.split(","))
            eps = [e for e in eps if e.name == "/healthz" or e.name.startswith(wanted)]
        print(
            f"msp web: {args.workers} workers x {args.threads} threads; {counts['tenant']:,} "
            f"tenants, {counts['domain']:,} domains, {counts['report']:,} reports, "
            f"~{records:,} report_record rows; wrk -c {args.concurrency} for {args.seconds} s each;"
            f" response cache {'off' if args.no_cache else 'on'}; "
            f"{args.writes_per_second:g} {'un' if args.unattributed else ''}attributed commits/s"
        )
        with Writer(args.writes_per_second, not args.unattributed) as writer:
            results = drive_all(port, eps, headers, args)
        if args.writes_per_second:
            print(f"  {writer.commits:,} commits made while driving")
        print_table(results)
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\nLoad average at the end (1, 5, 15 min; 2 cores shared with other work): {load}")
    finally:
        web.terminate()
        web.wait(timeout=60)


def drive_all(
    port: int, eps: list[Endpoint], headers: dict[str, dict[str, str]], args: Any
) -> list[Result]:
    results = []
    healthz, others = eps[0], eps[1:]
    for ep in others:
        size = check(port, ep, headers[ep.auth])
        rounds = []
        for _ in range(args.rounds):
            # /healthz right before the endpoint (or in slices taking turns with it): this
            # machine's speed drifts by a factor of two or more within minutes (shared cores),
            # so a ratio compares neighbours.
            reference, result = interleaved(port, healthz, ep, headers[ep.auth], args)
            result.body_bytes, result.reference_rps = size, reference.rps
            rounds.append(result)
            print(
                f"  {ep.name}: {result.rps:.1f} req/s, p99 {result.p99_ms:.0f} ms"
                f" (/healthz beside it: {reference.rps:.1f} req/s)"
                + (
                    f"; p99 of each turn: {', '.join(f'{t:.0f}' for t in result.turn_p99s)} ms"
                    if len(result.turn_p99s) > 1
                    else ""
                ),
                flush=True,
            )
        results.append(median_round(rounds))
    return results


def interleaved(
    port: int, healthz: Endpoint, ep: Endpoint, headers: dict[str, str], args: Any
) -> tuple[Result, Result]:
    """``/healthz`` and the endpoint for ``--seconds`` each, in ``--slices`` turns: the
    requests of all turns over their time, the median p50 and the worst p99 of the turns."""
    turns = max(1, args.slices)
    seconds = max(1, args.seconds // turns)
    pairs = [
        (
            run_wrk(port, healthz, {}, seconds, args.concurrency, warm=turn == 0),
            run_wrk(port, ep, headers, seconds, args.concurrency, warm=turn == 0),
        )
        for turn in range(turns)
    ]

    def merged(results: list[Result]) -> Result:
        requests = sum(r.requests for r in results)
        p50s = sorted(r.p50_ms for r in results)
        return Result(
            results[0].endpoint,
            rps=requests / (seconds * len(results)),
            p50_ms=p50s[len(p50s) // 2],
            p99_ms=max(r.p99_ms for r in results),
            requests=requests,
            errors=sum(r.errors for r in results),
            body_bytes=0,
            turn_p99s=tuple(r.p99_ms for r in results),
        )

    return merged([a for a, _ in pairs]), merged([b for _, b in pairs])


def median_round(rounds: list[Result]) -> Result:
    """The round whose ratio is the median one (its own figures), with the worst p99 of all."""
    ordered = sorted(rounds, key=lambda r: r.rps / r.reference_rps if r.reference_rps else 0.0)
    middle = ordered[len(ordered) // 2]
    middle.p99_ms = max(r.p99_ms for r in rounds)
    return middle


def print_table(results: list[Result]) -> None:
    print()
    print(
        "| endpoint | req/s | p50 ms | worst p99 ms | /healthz req/s just before | ratio |"
        " errors |"
        " body | target (>= 0.5x, p99 < 300 ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        ratio = r.rps / r.reference_rps if r.reference_rps else 0.0
        met = "met" if ratio >= 0.5 and r.p99_ms < 300 else "unmet"
        print(
            f"| {r.endpoint.name} | {r.rps:.1f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} |"
            f" {r.reference_rps:.1f} | {ratio:.2f} | {r.errors} of {r.requests} |"
            f" {r.body_bytes / 1024:.0f} KiB | {met} |"
        )


if __name__ == "__main__":
    main()
