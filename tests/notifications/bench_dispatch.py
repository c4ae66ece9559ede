"""Measure notification throughput on the real stack: PostgreSQL, Redis, an RQ worker, an
SMTP server and an HTTP receiver on loopback.

    .venv/bin/python -m tests.notifications.bench_dispatch [EVENTS] [TENANTS]

Creates a scratch database and Redis index 15 (flushed), emits EVENTS events spread over
TENANTS tenants (each with one e-mail and one webhook endpoint on the sysadmins team), then
times the dispatch (events -> delivery rows) and the sends (one RQ job per delivery), then
the digest of a tenant with DIGEST_DOMAINS domains (all three area sections live).
"""

from __future__ import annotations

import sys
import time
import uuid

import sqlalchemy as sa
from redis import Redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from msp import create_app
from msp.bootstrap import migrate_to_latest
from msp.db import utcnow
from msp.events import emit_event
from msp.extensions import db
from msp.notifications import delivery
from msp.notifications.digest import build_digest, render_digest
from msp.notifications.settings import notify_settings
from msp.queues import NOTIFICATIONS
from tests.conftest import test_config
from tests.factories import make_domain, make_tenant
from tests.notifications.helpers import deliveries, email_endpoint, webhook_endpoint
from tests.notifications.servers import smtp_server, webhook_server

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/15"
DIGEST_DOMAINS = 50


def main(events: int, tenants: int) -> None:
    name = f"msp_bench_notify_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    redis = Redis.from_url(REDIS)
    redis.flushdb()
    try:
        with smtp_server() as sink, webhook_server() as hook:
            app = create_app(
                test_config(
                    f"{SERVER}/{name}",
                    REDIS,
                    SMTP_HOST="127.0.0.1",
                    SMTP_PORT=sink.port,
                    SMTP_STARTTLS=False,
                    WEBHOOK_ALLOW_PRIVATE=True,
                    NOTIFY_DISPATCH_BATCH=events,
                )
            )
            with app.app_context():
                migrate_to_latest()
                run(app, events, tenants, sink, hook, redis)
                db.session.remove()
                db.engine.dispose()
    finally:
        redis.flushdb()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run(app: object, events: int, tenants: int, sink: object, hook: object, redis: Redis) -> None:
    made = [make_tenant(f"bench-{i}") for i in range(tenants)]
    for tenant in made:
        email_endpoint(tenant, "sysadmins", f"ops@{tenant.slug}.example")
        webhook_endpoint(tenant, "sysadmins", hook.url)  # type: ignore[attr-defined]
    for i in range(events):
        emit_event(made[i % tenants].id, "dns.drift", {"summary": f"change {i}"})
    db.session.commit()
    settings = notify_settings(app.config)  # type: ignore[attr-defined]
    started = time.perf_counter()
    result = delivery.dispatch_pending(settings, utcnow())
    fan_out = time.perf_counter() - started
    db.session.commit()  # sends one RQ job per delivery to Redis
    dispatch = time.perf_counter() - started
    queue = Queue(NOTIFICATIONS, connection=redis, serializer=JSONSerializer)
    started = time.perf_counter()
    SimpleWorker([queue], connection=redis, serializer=JSONSerializer).work(burst=True)
    send = time.perf_counter() - started
    sent = sum(1 for d in deliveries() if d.status == "sent")
    for i in range(DIGEST_DOMAINS):
        make_domain(made[0], f"d{i}.{made[0].slug}.example")
    started = time.perf_counter()
    message = render_digest(build_digest(made[0], utcnow(), "https://msp.example"))
    digest = time.perf_counter() - started
    print(
        f"events={result.events} deliveries={result.deliveries} fan-out={fan_out:.2f}s "
        f"fan-out+commit+enqueue={dispatch:.2f}s ({result.events / dispatch:.0f} events/s)"
    )
    print(
        f"sent={sent} send={send:.2f}s ({sent / send:.0f} deliveries/s, one RQ job each) "
        f"smtp_received={len(sink.received)} "  # type: ignore[attr-defined]
        f"webhooks_received={len(hook.received)}"  # type: ignore[attr-defined]
    )
    print(
        f"digest of {DIGEST_DOMAINS} domains built and rendered in {digest:.2f}s "
        f"(text {len(message.text)} chars, HTML {len(message.html or '')} chars)"
    )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 20,
    )
