"""The project's tenant-isolation walk over the notification routes (the shared app includes
them once ``msp.api.RESOURCE_MODULES`` lists the module; the root walk then covers them too).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.isolation import World, all_factories, build_world

PARAM_RE = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _call(client: FlaskClient, method: str, path: str, headers: dict[str, str]) -> Any:
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    return client.open(path, method=method, headers=headers, json=body)


@pytest.fixture
def world(db_session: Any) -> World:
    return build_world()


def _notification_routes(app: Flask) -> list[tuple[str, str]]:
    return [
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("notifications.")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]


def test_every_notification_route_has_an_isolation_factory(app: Flask) -> None:
    factories = all_factories()
    routes = _notification_routes(app)
    assert len(routes) >= 15
    assert {n for rule, _ in routes for n in PARAM_RE.findall(rule)} <= set(factories)


@pytest.mark.parametrize("caller_name", ["tenant_admin_a", "tenant_viewer_a", "restricted_staff_a"])
def test_tenant_a_gets_404_for_tenant_b_notification_objects(
    app: Flask, client: FlaskClient, world: World, caller_name: str
) -> None:
    caller = world.callers[caller_name]
    factories = all_factories()
    for rule, method in _notification_routes(app):
        names = PARAM_RE.findall(rule)
        path = rule
        for name in names:
            path = PARAM_RE.sub(str(factories[name](world)), path, count=1)
        response = _call(client, method, path, caller.headers)
        text = response.get_data(as_text=True)
        leaked = [m for m in world.markers if m and m in text]
        assert not leaked, f"{method} {rule} as {caller_name} leaked {leaked}"
        if names:
            allowed = {404} if method not in WRITE_METHODS else {403, 404, 422}
            assert response.status_code in allowed, (method, rule, response.status_code, text)
