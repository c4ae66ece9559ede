"""One request at a time on the seeded database: server time, SQL statements and SQL time per
page, and the slowest statements (a diagnostic beside drive.py's figures under load).

    .venv/bin/python -m bench.scale.one_request /dashboard /tenants/77 /domains/5001

Signs the MSP staff user in through the login form of the Flask test client (one process, no
gunicorn), requests each path twice and prints the second (warm) request.
"""

from __future__ import annotations

import re
import sys
import time
from typing import Any

from sqlalchemy import event

from bench.scale import common


def main() -> None:
    from msp import create_app
    from msp.extensions import db

    app = create_app(
        {
            "ENV": "development",
            "SECRET_KEY": "scale-bench",
            "DATABASE_URL": common.sa_url(),
            "PAGE_CACHE_SECONDS": 0,  # what the page itself costs, not the response cache
        }
    )
    statements: list[tuple[float, str]] = []
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def before(*args: Any) -> None:
        args[4]._scale_started = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(*args: Any) -> None:
        statements.append((time.perf_counter() - args[4]._scale_started, str(args[2])))

    client = app.test_client()
    page = client.get("/login").data
    match = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    if match is None:
        raise SystemExit("no CSRF token on the login page")
    form = {
        "csrf_token": match.group(1).decode(),
        "email": common.STAFF_EMAIL,
        "password": common.STAFF_PASSWORD,
    }
    if client.post("/login", data=form).status_code != 302:
        raise SystemExit("sign-in failed")
    for path in sys.argv[1:]:
        for _ in range(2):
            statements.clear()
            started = time.perf_counter()
            resp = client.get(path)
            seconds = time.perf_counter() - started
        in_sql = sum(s for s, _ in statements)
        print(
            f"{path}: {resp.status_code}, {seconds * 1000:.0f} ms, {len(statements)} statements,"
            f" {in_sql * 1000:.0f} ms in SQL"
        )
        for spent, sql in sorted(statements, reverse=True)[:3]:
            print(f"  {spent * 1000:.0f} ms: {' '.join(sql.split())[:200]}")


if __name__ == "__main__":
    main()
