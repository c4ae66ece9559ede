"""Tenant isolation, proved over every route of the app: a user or token of tenant A gets 404
for tenant B's objects, never sees tenant B's data in any answer, changes nothing of tenant B,
and a tenant user cannot reach MSP-only endpoints.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from msp.auth.models import AuditLog
from msp.extensions import db
from tests.isolation import World, all_factories, build_world

SKIP_ENDPOINTS = {"web.static", "api-docs.openapi_json"}
PARAM_RE = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _routes(app: Flask) -> Iterator[tuple[str, str, str]]:
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS or rule.endpoint.endswith(".static"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.rule, method, rule.endpoint


def _is_msp_only(app: Flask, endpoint: str, method: str) -> bool:
    view = app.view_functions[endpoint]
    target = getattr(getattr(view, "view_class", None), method.lower(), view)
    return bool(getattr(target, "msp_only", False))


@pytest.fixture
def world(db_session: Any) -> World:
    return build_world()


def _b_fingerprint(world: World) -> tuple[int, int]:
    audit_rows = db.session.scalar(
        select(func.count()).select_from(AuditLog).where(AuditLog.tenant_id == world.tenant_b.id)
    )
    from msp.domains.models import Domain

    domains = db.session.scalar(
        select(func.count()).select_from(Domain).where(Domain.tenant_id == world.tenant_b.id)
    )
    return audit_rows or 0, domains or 0


def _call(client: FlaskClient, method: str, path: str, headers: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = {"headers": headers}
    if method in {"POST", "PUT", "PATCH"}:
        kwargs["json"] = {}
    return client.open(path, method=method, **kwargs)


def test_every_route_has_a_factory_for_its_parameters(app: Flask) -> None:
    factories = all_factories()
    missing = {
        (rule, name)
        for rule, _, _ in _routes(app)
        for name in PARAM_RE.findall(rule)
        if name not in factories
    }
    assert not missing, f"add isolation factories for: {sorted(missing)}"


@pytest.mark.parametrize("caller_name", ["tenant_admin_a", "tenant_viewer_a", "restricted_staff_a"])
def test_tenant_a_gets_404_for_tenant_b_objects_everywhere(
    app: Flask, client: FlaskClient, world: World, caller_name: str
) -> None:
    caller = world.callers[caller_name]
    # Tenant B's objects are made before the fingerprint: factories may create them lazily.
    ids = {name: factory(world) for name, factory in all_factories().items()}
    before = _b_fingerprint(world)
    checked = 0
    for rule, method, endpoint in _routes(app):
        names = PARAM_RE.findall(rule)
        path = rule
        for name in names:
            path = PARAM_RE.sub(str(ids[name]), path, count=1)
        response = _call(client, method, path, caller.headers)
        text = response.get_data(as_text=True)
        leaked = [m for m in world.markers if m and m in text]
        assert not leaked, f"{method} {rule} as {caller_name} leaked {leaked}"
        if names:
            allowed = {404} if method not in WRITE_METHODS else {403, 404, 422}
            if _is_msp_only(app, endpoint, method) and caller_name != "restricted_staff_a":
                allowed = {403, 404}
            assert response.status_code in allowed, (
                f"{method} {rule} as {caller_name} gave {response.status_code}: {text[:300]}"
            )
            checked += 1
    assert checked > 10
    assert _b_fingerprint(world) == before, "tenant B's data changed"


def test_tenant_users_cannot_reach_msp_only_endpoints(
    app: Flask, client: FlaskClient, world: World
) -> None:
    targets = [(r, m) for r, m, e in _routes(app) if _is_msp_only(app, e, m)]
    assert targets, "no MSP-only endpoint found"
    for caller_name in ("tenant_admin_a", "tenant_viewer_a"):
        caller = world.callers[caller_name]
        for rule, method in targets:
            path = PARAM_RE.sub(str(world.tenant_a.id), rule)  # even their own tenant
            response = _call(client, method, path, caller.headers)
            assert response.status_code in {403, 404}, (
                f"{method} {rule} as {caller_name} gave {response.status_code}"
            )


def test_restricted_staff_see_only_assigned_tenants(client: FlaskClient, world: World) -> None:
    caller = world.callers["restricted_staff_a"]
    slugs = [t["slug"] for t in client.get("/api/v1/tenants", headers=caller.headers).get_json()]
    assert slugs == [world.tenant_a.slug]
