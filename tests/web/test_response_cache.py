"""The response cache of the heavy reads (msp/response_cache.py, msp/generation.py): a second
request is answered without the view's SQL while nothing was written, never after a commit that
wrote, never to another credential, and never past authentication."""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from msp import generation, mirror, response_cache
from msp.auth.models import ApiToken
from msp.auth.service import revoke_token
from msp.db import utcnow
from msp.extensions import db
from msp.reports.bulk import connection
from msp.tenancy.models import Tenant
from tests.factories import make_domain, make_tenant, make_user, token_caller
from tests.web.support import count_statements, csrf_token, login, uncached


@pytest.mark.parametrize(
    ("statement", "writes"),
    [
        ("SELECT 1", False),
        ("  (SELECT a FROM t) UNION (SELECT b FROM u)", False),
        ("select * from t for update", False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
        ("SAVEPOINT sa_savepoint_1", False),
        ("PRAGMA journal_mode", False),
        ("INSERT INTO t VALUES (1)", True),
        ("update t set a = 1", True),
        ("DELETE FROM t", True),
        ("COPY report_record FROM STDIN", True),
        ("WITH moved AS (DELETE FROM t RETURNING *) SELECT count(*) FROM moved", True),
        ("CREATE TABLE t (a int)", True),
    ],
)
def test_statements_that_write_are_told_from_reads(statement: str, writes: bool) -> None:
    assert generation.is_write(statement) is writes


def _signed_in(client: FlaskClient, role: str, tenant: Tenant) -> None:
    login(client, make_user(role, tenant).email)


def test_a_page_is_served_again_without_its_sql_until_a_commit_writes(
    app: Flask, client: FlaskClient
) -> None:
    tenant = make_tenant()
    tenant.name = "Cache Co"
    domain = make_domain(tenant, "cache.example")
    _signed_in(client, "tenant_admin", tenant)
    url = f"/domains/{domain.id}"

    first = client.get(url).get_data(True)
    with count_statements(app) as statements:
        second = client.get(url).get_data(True)
    assert second == first
    assert not any("FROM domain " in s or "policy_plan" in s for s in statements), statements

    tenant.name = "Cache Renamed Co"
    db.session.commit()  # the request of another user, or a job, committing a change
    with count_statements(app) as statements:
        third = client.get(url).get_data(True)
    assert "Cache Renamed Co" in third and "Cache Renamed Co" not in first
    assert any("policy_plan" in s for s in statements)


def test_uncommitted_writes_of_this_thread_are_never_answered_from_the_cache(
    client: FlaskClient,
) -> None:
    tenant = make_tenant()
    _signed_in(client, "tenant_admin", tenant)
    url = f"/tenants/{tenant.id}"
    client.get(url)
    tenant.name = "Pending Renamed Co"
    db.session.flush()

    assert generation.written()
    assert "Pending Renamed Co" in client.get(url).get_data(True)


def test_another_credential_never_gets_an_entry_made_for_someone_else(
    app: Flask, client: FlaskClient
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    _signed_in(client, "tenant_admin", tenant)
    admin_page = client.get(f"/domains/{domain.id}").get_data(True)
    assert f'action="/domains/{domain.id}/' in admin_page  # the admin's write controls

    viewer = app.test_client()
    _signed_in(viewer, "tenant_viewer", tenant)
    viewer_page = viewer.get(f"/domains/{domain.id}").get_data(True)
    assert f'action="/domains/{domain.id}/' not in viewer_page


def test_a_revoked_token_is_refused_even_with_a_response_kept_for_it(
    client: FlaskClient,
) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    caller = token_caller("tenant_admin", tenant)
    url = f"/api/v1/domains/{domain.id}/plan"
    assert client.get(url, headers=caller.headers).status_code == 200
    assert client.get(url, headers=caller.headers).status_code == 200

    token = db.session.get(ApiToken, caller.principal.id)
    assert token is not None
    revoke_token(token, utcnow())
    db.session.flush()
    assert client.get(url, headers=caller.headers).status_code == 401


def _kept_domain_page(client: FlaskClient) -> str:
    """A new domain's page, opened once by its tenant's admin (so it is kept); its URL."""
    tenant = make_tenant()
    domain = make_domain(tenant)
    _signed_in(client, "tenant_admin", tenant)
    url = f"/domains/{domain.id}"
    client.get(url)
    return url


def test_a_page_with_a_message_to_flash_is_drawn_fresh(client: FlaskClient) -> None:
    url = _kept_domain_page(client)
    with client.session_transaction() as session:
        session["_flashes"] = [("ok", "Sender 192.0.2.1 approved.")]
    assert "Sender 192.0.2.1 approved." in client.get(url).get_data(True)


def test_the_reports_copy_on_the_driver_connection_counts_as_a_write(db_session: Any) -> None:
    db.session.commit()
    assert not generation.written()
    connection()
    assert generation.written()
    db.session.commit()
    assert not generation.written()


def test_a_released_savepoint_moves_nothing_before_the_outer_commit(db_session: Any) -> None:
    tenant = make_tenant()
    db.session.commit()
    before = generation.redis().get(generation.KEY)
    with db.session.begin_nested():
        tenant.name = "Savepoint Co"
        db.session.flush()
    # Still this thread's uncommitted write: nothing moved, and no cache is read meanwhile.
    assert generation.written()
    assert generation.redis().get(generation.KEY) == before
    db.session.commit()
    assert not generation.written()
    assert generation.redis().get(generation.KEY) != before


def test_a_value_kept_for_a_tenant_goes_at_its_next_commit_and_is_never_kept_late(
    db_session: Any,
) -> None:
    tenant, other = make_tenant(), make_tenant()
    db.session.commit()
    r = generation.redis()
    seen = r.get(generation.tenant_key(tenant.id))
    generation.keep_for_tenant(tenant.id, seen, "msp:test:kept", b"drawn", 60)
    assert r.get("msp:test:kept") == b"drawn"
    generation.bump(False, {other.id})  # another tenant's reports
    assert r.get("msp:test:kept") == b"drawn"
    generation.bump(False, {tenant.id})  # this tenant's
    assert r.get("msp:test:kept") is None
    # Drawn from the data before that commit, kept after it: refused.
    generation.keep_for_tenant(tenant.id, seen, "msp:test:late", b"old data", 60)
    assert r.get("msp:test:late") is None
    now = r.get(generation.tenant_key(tenant.id))
    generation.keep_for_tenant(tenant.id, now, "msp:test:late", b"new data", 60)
    assert r.get("msp:test:late") == b"new data"


def test_nothing_is_kept_when_the_cache_is_off(app: Flask, client: FlaskClient) -> None:
    tenant = make_tenant()
    _signed_in(client, "tenant_admin", tenant)
    url = f"/tenants/{tenant.id}"
    with uncached(app):
        client.get(url)
        with count_statements(app) as statements:
            client.get(url)
    assert any("FROM tenant" in s for s in statements)


def test_a_csrf_token_on_a_page_served_from_the_cache_still_works(client: FlaskClient) -> None:
    url = _kept_domain_page(client)
    token = csrf_token(client, url)  # from the kept page
    answer = client.post(
        f"{url}/senders",
        data={"csrf_token": token, "one": "approved ip:192.0.2.1"},
    )
    assert answer.status_code == 302, answer.get_data(True)[:300]
    page = client.get(url).get_data(True)  # the verdict's answer, flashed: drawn fresh
    assert "no sender ip:192.0.2.1 has been seen" in page


def _entry_key(client: FlaskClient, path: str) -> str:
    with client.session_transaction() as session:
        sid = session["sid"]
    material = f"s:{sid}\nNone\n{path}?"
    return response_cache.PREFIX + hashlib.sha256(material.encode()).hexdigest()


def _age(redis_conn: Redis, key: str, seconds: float) -> None:
    entry = redis_conn.get(key)
    assert entry is not None
    head, _, body = entry.partition(b"\n\n")
    meta = json.loads(head)
    meta["made"] -= seconds
    redis_conn.set(key, json.dumps(meta).encode() + b"\n\n" + body)
    redis_conn.publish(mirror.CHANNEL, mirror.EVERYTHING)  # as the app's own writes say


def _aged_tenant_page(client: FlaskClient, redis_conn: Redis) -> tuple[str, str]:
    """A tenant page kept an hour past its freshness: its URL and entry key."""
    tenant = make_tenant()
    _signed_in(client, "tenant_admin", tenant)
    url = f"/tenants/{tenant.id}"
    client.get(url)
    key = _entry_key(client, url)
    _age(redis_conn, key, 3600)
    return url, key


def test_an_aged_entry_is_served_while_one_request_draws_it_again(
    app: Flask, client: FlaskClient, redis_conn: Redis
) -> None:
    url, key = _aged_tenant_page(client, redis_conn)

    redis_conn.set(f"{key}:redraw", b"1")  # another request is drawing it right now
    with count_statements(app) as statements:
        assert client.get(url).status_code == 200
    assert not any("FROM tenant" in s for s in statements), "served the aged entry"

    redis_conn.delete(f"{key}:redraw")  # nobody is: this request draws it
    with count_statements(app) as statements:
        client.get(url)
    assert any("FROM tenant" in s for s in statements)
    assert redis_conn.get(f"{key}:redraw") is None, "the claim ends with the new entry"
    with count_statements(app) as statements:
        client.get(url)
    assert not any("FROM tenant" in s for s in statements), "the new entry is fresh"


def test_a_process_draws_one_aged_entry_at_a_time_and_serves_the_others_meanwhile(
    app: Flask, client: FlaskClient, redis_conn: Redis
) -> None:
    url, key = _aged_tenant_page(client, redis_conn)

    assert response_cache._REDRAW_SLOT.acquire(blocking=False)  # this process draws another
    try:
        with count_statements(app) as statements:
            assert client.get(url).status_code == 200
        assert not any("FROM tenant" in s for s in statements), "served the aged entry"
        assert redis_conn.get(f"{key}:redraw") is None, "nor claimed it for later"
    finally:
        response_cache._REDRAW_SLOT.release()
    with count_statements(app) as statements:
        client.get(url)
    assert any("FROM tenant" in s for s in statements), "drawn once the process is free"
    assert response_cache._REDRAW_SLOT.acquire(blocking=False), "the slot is free again"
    response_cache._REDRAW_SLOT.release()


def test_the_cache_keys_on_the_session_entries_auth_and_the_pages_write() -> None:
    """response_cache reads two session entries by name (importing their modules would make a
    cycle): a rename on either side must fail here, not mix two views' entries."""
    from msp.auth.request import SESSION_KEY
    from msp.web.shell import VIEW_AS_KEY

    source = inspect.getsource(response_cache.key_for_request) + inspect.getsource(
        response_cache._credential
    )
    assert f'session.get("{SESSION_KEY}")' in source
    assert f'session.get("{VIEW_AS_KEY}")' in source


def drawn(app: Flask, client: FlaskClient, url: str) -> bool:
    """Whether the page was drawn again (its view ran SQL) rather than served as kept."""
    with count_statements(app) as statements:
        assert client.get(url).status_code == 200
    return any("FROM domain" in s or "FROM tenant" in s for s in statements)


def test_writes_attributed_to_one_tenant_leave_other_tenants_pages_kept(
    app: Flask, client: FlaskClient
) -> None:
    a, b = make_tenant(), make_tenant()
    domain_a, domain_b = make_domain(a, "kept-a.example"), make_domain(b, "moved-b.example")
    login(client, make_user("msp_admin").email)
    pages = {
        "a": f"/domains/{domain_a.id}",
        "a's dashboard": f"/tenants/{a.id}",
        "b": f"/domains/{domain_b.id}",
        "portfolio": "/dashboard",
    }
    for url in pages.values():
        client.get(url)

    # As the report jobs write: only tenant b's data.
    with generation.attributed({b.id}):
        domain_b.parked = True
        db.session.flush()
    db.session.commit()
    assert {name: drawn(app, client, url) for name, url in pages.items()} == {
        "a": False,
        "a's dashboard": False,
        "b": True,  # its tenant's data changed
        "portfolio": True,  # it shows every tenant
    }
    # Anything else written (a user's change, a job that did not say whose data it changed).
    domain_a.parked = True
    db.session.commit()
    assert all(drawn(app, client, url) for url in pages.values())


def test_a_page_over_every_tenant_shows_arriving_reports_late_by_one_draw_at_most(
    app: Flask, client: FlaskClient, redis_conn: Redis
) -> None:
    """While reports keep arriving, one request draws the portfolio again and the others serve
    the last draw meanwhile, never one older than REPORTS_LAG_SECONDS; other writes (a user's
    change) are never served late."""
    tenant = make_tenant()
    domain = make_domain(tenant, "arriving.example")
    login(client, make_user("msp_admin").email)
    url = "/dashboard"
    client.get(url)
    key = _entry_key(client, url)

    def reports_arrive() -> None:
        with generation.attributed({tenant.id}):
            domain.parked = not domain.parked
            db.session.flush()
        db.session.commit()

    reports_arrive()
    redis_conn.set(f"{key}:redraw", b"1")  # another request is drawing it right now
    assert not drawn(app, client, url), "served the last draw while another request draws"
    _age(redis_conn, key, response_cache.REPORTS_LAG_SECONDS + 1)
    assert drawn(app, client, url), "a draw older than the lag is never served after a change"

    reports_arrive()
    redis_conn.delete(f"{key}:redraw")
    assert drawn(app, client, url), "nobody was drawing it: this request does"
    assert redis_conn.get(f"{key}:redraw") is None, "the claim ends with the new entry"
    assert not drawn(app, client, url)

    domain.parked = not domain.parked  # not attributed: a user's change
    db.session.commit()
    redis_conn.set(f"{key}:redraw", b"1")
    assert drawn(app, client, url), "a user's change is never served late"
