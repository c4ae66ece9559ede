"""A live console for browser tests: the app on a fresh PostgreSQL database (made by the
migrations), served by werkzeug on a free loopback port in a thread, with the demo client,
one user per role, and the DNS checker pointed at a knot server the test controls."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from msp import create_app
from msp.auth.users import add_membership, create_user
from msp.extensions import db
from msp.tenancy.models import Tenant
from tests.conftest import fresh_database, test_config
from tests.factories import PASSWORD
from tests.support.dns_server import KnotServer, zone

REPORTS_DOMAIN = "reports.msp.test"
USERS = {
    "msp_admin": "admin@msp.test",
    "msp_staff": "staff@msp.test",
    "tenant_admin": "it@demo-client.test",
    "tenant_viewer": "boss@demo-client.test",
}


@dataclass(frozen=True)
class Live:
    base: str
    app: Flask
    knot: KnotServer
    demo_tenant_id: int

    def email(self, role: str) -> str:
        return USERS[role]


def _seed() -> int:
    from msp.bootstrap import migrate_to_latest
    from msp.demo import seed_demo

    migrate_to_latest()
    seed_demo()
    demo = db.session.query(Tenant).filter_by(slug="demo").one()
    for role, email in USERS.items():
        data: dict[str, Any] = {"email": email, "password": PASSWORD}
        if role.startswith("msp_"):
            data.update(msp_role=role, staff_restricted=role == "msp_staff")
        else:
            data.update(tenant_id=demo.id, tenant_role=role)
        user = create_user(None, data)
        db.session.flush()
        if role == "msp_staff":
            add_membership(demo.id, user, "staff")
    demo_id = demo.id  # read before the commit expires it (no connection left checked out)
    db.session.commit()
    return demo_id


@contextmanager
def live_console() -> Iterator[Live]:
    zones = {name: zone(name, []) for name in ("client.test", "msp.test", "test")}
    with KnotServer(zones) as knot, fresh_database("msp_web") as url:
        app = create_app(
            test_config(
                url,
                None,
                REPORTS_DOMAIN=REPORTS_DOMAIN,
                DNS_NAMESERVERS=[knot.nameserver],
                DNS_TIMEOUT=1.0,
                DNS_RETRIES=0,
                DNS_PROBE_SELECTORS=False,
            )
        )
        with app.app_context():
            demo_id = _seed()
            db.engine.dispose()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Live(f"http://127.0.0.1:{server.server_port}", app, knot, demo_id)
        finally:
            server.shutdown()
            thread.join(10)
            with app.app_context():
                db.engine.dispose()
