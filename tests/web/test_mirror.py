"""The mirror of the cached reads (msp/mirror.py): a web process answers a kept page from its
own copy while Redis says nothing moved, and reads Redis again as soon as another process's
commit says something did (its tenants' copies only, for report data), after a lost
subscription, and never copies a value fetched while a change was being announced.

The copies are told apart from Redis by deleting an entry in Redis without announcing it: a
page still served without its SQL came from the copy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from msp import generation, mirror
from tests.conftest import migrated_app
from tests.factories import make_domain, make_tenant, make_user
from tests.web.support import login
from tests.web.test_response_cache import _entry_key, drawn


@pytest.fixture
def other_process(database_url: str, redis_url: str) -> Iterator[Flask]:
    """Another app on the same database and Redis: its own mirror and connections, as another
    web process or worker has."""
    with migrated_app(database_url, redis_url) as other:
        yield other


def listening(near: mirror.Mirror) -> int:
    """The mirror's epoch once its subscription is confirmed (after a fault it subscribes
    again within RETRY_SECONDS)."""
    deadline = time.monotonic() + 5
    while (epoch := near.get([])[1]) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert epoch is not None, "the mirror never subscribed"
    return epoch


@contextmanager
def announced(app: Flask) -> Iterator[None]:
    """Wait, after the block, until this process's mirror has heard what the block published
    (delivery is asynchronous; a request reads it once it is there)."""
    with app.app_context():
        near = mirror.current()
        assert near is not None
        epoch = listening(near)
        yield
        deadline = time.monotonic() + 5
        while near.get([])[1] == epoch and time.monotonic() < deadline:
            time.sleep(0.01)
        assert near.get([])[1] != epoch, "the announcement never arrived"


def _kept_and_copied(client: FlaskClient, url: str) -> str:
    with client.application.app_context():
        near = mirror.current()
        assert near is not None
        listening(near)
    client.get(url)  # drawn and kept in Redis
    client.get(url)  # read from Redis and copied
    return _entry_key(client, url)


def test_a_kept_page_comes_from_the_copy_until_another_process_commits(
    app: Flask, client: FlaskClient, redis_conn: Redis, other_process: Flask
) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    url = f"/tenants/{tenant.id}"
    key = _kept_and_copied(client, url)

    redis_conn.delete(key)  # not announced: only the copy holds the page now
    assert not drawn(app, client, url), "answered from this process's copy"

    with announced(app), other_process.app_context():
        generation.bump()  # what any commit that wrote does, in another process
    assert drawn(app, client, url), "a copy is never used after a change is announced"


def test_report_data_of_one_tenant_forgets_its_copies_and_those_spanning_tenants_only(
    app: Flask, client: FlaskClient, redis_conn: Redis, other_process: Flask
) -> None:
    a, b = make_tenant(), make_tenant()
    domain_a, domain_b = make_domain(a, "copy-a.example"), make_domain(b, "copy-b.example")
    login(client, make_user("msp_admin").email)
    pages = {
        "a": f"/domains/{domain_a.id}",
        "b": f"/domains/{domain_b.id}",
        "portfolio": "/dashboard",
    }
    for url in pages.values():
        redis_conn.delete(_kept_and_copied(client, url))  # only the copies hold them now

    with announced(app), other_process.app_context():
        generation.bump(everything=False, tenants=[b.id])  # a report job's commit for b
    assert {name: drawn(app, client, url) for name, url in pages.items()} == {
        "a": False,  # another tenant's report data: a's copy holds
        "b": True,
        "portfolio": True,
    }


def test_a_lost_subscription_forgets_every_copy(
    app: Flask, client: FlaskClient, redis_conn: Redis
) -> None:
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    url = f"/tenants/{tenant.id}"
    key = _kept_and_copied(client, url)
    redis_conn.delete(key)
    assert not drawn(app, client, url)

    with app.app_context():
        near = mirror.current()
        assert near is not None
        host, port = near._pubsub.connection._sock.getsockname()[:2]
    redis_conn.client_kill(f"{host}:{port}")  # what a Redis restart or a network fault does
    with app.app_context():
        listening(near)  # subscribed again: what was published meanwhile was never heard
    assert drawn(app, client, url), "a copy made before the fault is never used after it"


def test_a_value_fetched_while_a_change_is_announced_is_not_copied(
    app: Flask, redis_conn: Redis
) -> None:
    key = "msp:principal:race"
    value = b'{"generation": "1"}'
    with app.test_request_context():
        near = mirror.current()
        assert near is not None
        listening(near)
        copied, epoch = near.get([key])
        assert copied == {} and epoch is not None
    with announced(app):
        redis_conn.publish(mirror.CHANNEL, mirror.EVERYTHING)  # a commit, while we fetch
    with app.test_request_context():
        near.put(epoch, [(key, value)])
        assert near.get([key])[0] == {}, "copied a value that may predate the change"
        _, epoch = near.get([key])
        near.put(epoch, [(key, value)])
        assert near.get([key])[0] == {key: value}


def test_the_copies_stay_under_their_size_least_recently_used_first_out(app: Flask) -> None:
    with app.test_request_context():
        near = mirror.Mirror(lambda: app.extensions["msp_dispatcher"].connection, 4 * 1000)
        listening(near)
        keys = [f"msp:principal:size-{n}" for n in range(5)]
        for key in keys[:4]:
            near.put(near.get([])[1], [(key, b"x" * 900)])
        assert near.get(keys[:1])[0]  # the oldest, used again
        near.put(near.get([])[1], [(keys[4], b"x" * 900)])
        held = {key: key in near.get([key])[0] for key in keys}
        assert held == {keys[0]: True, keys[1]: False, keys[2]: True, keys[3]: True, keys[4]: True}
        near.put(near.get([])[1], [("msp:other:not-a-family", b"1")])
        assert not near.get(["msp:other:not-a-family"])[0], "only registered families"


def test_after_a_pause_longer_than_a_copy_lives_it_subscribes_afresh(
    app: Flask, client: FlaskClient, redis_conn: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle process does not read through what was published while it slept (its copies
    are out of date anyway): it forgets them and subscribes again."""
    tenant = make_tenant()
    login(client, make_user("tenant_admin", tenant).email)
    url = f"/tenants/{tenant.id}"
    key = _kept_and_copied(client, url)
    redis_conn.delete(key)
    with app.app_context():
        near = mirror.current()
        assert near is not None
        before = near._pubsub
        monkeypatch.setattr(mirror, "SECONDS", 0.2)
        time.sleep(0.3)
        for _ in range(50):
            redis_conn.publish(mirror.CHANNEL, mirror.tenants_message([10**6]))
        assert near.get([key])[0] == {}, "the copies made before the pause are forgotten"
        assert near._pubsub is not before, "subscribed afresh"
        listening(near)
        assert near.get([key])[0] == {}
