"""Shared fixtures: the app on a fresh PostgreSQL database made by migrations, a per-test
rolled-back transaction, a private Redis database, and in-process RQ workers in burst mode.

``MSP_TEST_DATABASE_URL`` names the PostgreSQL server (its database part is replaced by a fresh
database per test session); ``MSP_TEST_REDIS_URL`` the Redis server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_sqlalchemy.session import Session as FsaSession
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy.engine import make_url

from msp import create_app
from msp.extensions import db
from msp.mirror import CHANNEL as MIRROR_CHANNEL
from msp.queues import ALL_QUEUES

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
LOCK_KEY = "msp:test-session-lock"


class BoundSession(FsaSession):
    """Flask-SQLAlchemy's session, but honouring a session-level bind (the test connection)."""

    def get_bind(
        self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any
    ) -> Any:
        if bind is None and self.bind is not None:
            return self.bind
        return super().get_bind(mapper, clause, bind, **kwargs)


def _server_url() -> sa.URL:
    return make_url(os.environ.get("MSP_TEST_DATABASE_URL", DEFAULT_DB))


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards."""
    server = _server_url()
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks ``processes`` every test that starts a process, a browser or a server (or is
    ``slow``): ``pytest -m "not processes"`` is the quick loop (tests/support/markers.py)."""
    from tests.support.markers import mark_processes

    mark_processes(items)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    with fresh_database("msp_test") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis database index of our own (1-15), locked so parallel test runs do not share."""
    base = urlparse(os.environ.get("MSP_TEST_REDIS_URL", DEFAULT_REDIS))
    host, port = base.hostname or "127.0.0.1", base.port or 6379
    token = f"{os.getpid()}-{uuid.uuid4().hex}"
    for index in range(1, 16):
        conn = Redis(host=host, port=port, db=index)
        if conn.set(LOCK_KEY, token, nx=True, ex=6 * 3600):
            keep = {LOCK_KEY.encode()}
            for key in conn.scan_iter():
                if key not in keep:
                    conn.delete(key)
            try:
                yield f"redis://{host}:{port}/{index}"
            finally:
                conn.flushdb()
            return
    raise RuntimeError("no free Redis database index for this test session")


def test_config(database_url: str, redis_url: str | None, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "ENV": "test",
        "SECRET_KEY": "test-secret-key",
        "ENCRYPTION_KEY": "kP3q0T0bY3m4lQyYv8n2F6m0b1hS9dQzR5wX7cV2a4E=",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECURE_COOKIES": False,
        "JOB_RETRIES": 0,
        "WTF_CSRF_ENABLED": True,
    }
    config.update(extra)
    return config


test_config.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@contextmanager
def migrated_app(database_url: str, redis_url: str | None, **extra: Any) -> Iterator[Flask]:
    """The app on the test database migrated to the latest schema, with ``extra`` settings on
    top of ``test_config``; its connection pool is closed afterwards. Every ``app`` fixture of
    the suite is made here (a folder that needs more settings overrides ``app`` and calls it)."""
    from msp.bootstrap import migrate_to_latest

    application = create_app(test_config(database_url, redis_url, **extra))
    with application.app_context():
        migrate_to_latest()
        db.engine.dispose()
    try:
        yield application
    finally:
        with application.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def app(database_url: str, redis_url: str) -> Iterator[Flask]:
    with migrated_app(database_url, redis_url) as application:
        yield application


@pytest.fixture(autouse=True)
def _clean_redis(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "redis_url" in request.fixturenames:
        conn = Redis.from_url(request.getfixturevalue("redis_url"))
        for key in conn.scan_iter():
            if key != LOCK_KEY.encode():
                conn.delete(key)
        conn.publish(MIRROR_CHANNEL, b"*")  # the web processes' mirrors forget what they hold


@pytest.fixture
def db_session(app: Flask) -> Iterator[Any]:
    """Everything the test (and jobs it runs in-process) writes is rolled back afterwards."""
    with app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        original = db.session
        db.session = db._make_scoped_session(  # type: ignore[method-assign]
            {
                "class_": BoundSession,
                "bind": connection,
                "join_transaction_mode": "create_savepoint",
            }
        )
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original  # type: ignore[method-assign]
            transaction.rollback()
            connection.close()


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context, so its own session (and its own commit or
    rollback), on the test's connection: as in production, a failed request leaves the data
    the test prepared untouched."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask, db_session: Any) -> FlaskClient:
    app.test_client_class = IsolatedClient
    return app.test_client()


@pytest.fixture
def redis_conn(app: Flask) -> Redis:
    from msp.queues import Dispatcher

    dispatcher: Dispatcher = app.extensions["msp_dispatcher"]
    return dispatcher.connection


@pytest.fixture
def run_jobs(app: Flask, redis_conn: Redis, db_session: Any) -> Callable[..., SimpleWorker]:
    """Run every queued job with a real RQ worker in burst mode, in this process."""
    from rq import Queue

    def run(queues: tuple[str, ...] = ALL_QUEUES) -> SimpleWorker:
        worker = SimpleWorker(
            [Queue(q, connection=redis_conn, serializer=JSONSerializer) for q in queues],
            connection=redis_conn,
            serializer=JSONSerializer,
        )
        worker.work(burst=True, with_scheduler=False)
        return worker

    return run
