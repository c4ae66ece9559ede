"""The notification routes are inside the project's tenant-isolation walk.

The walk itself is tests/test_tenant_isolation.py: it calls every route of the shared app (the
factory registers the notifications API) as three tenant-A callers and expects 404 for tenant
B's objects, no leaked marker and no change to tenant B. This module proves only that the
notification routes are among those it walks, each parameter with a tenant-B factory
(tests/notifications/isolation.py), so losing the blueprint cannot shrink the walk silently.
"""

from __future__ import annotations

import re

from flask import Flask

from tests.isolation import all_factories

PARAM_RE = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def test_the_isolation_walk_covers_every_notification_route(app: Flask) -> None:
    routes = [
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("notifications.")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    ]
    assert len(routes) >= 15
    params = {name for rule, _ in routes for name in PARAM_RE.findall(rule)}
    assert {"team_id", "endpoint_id"} <= params <= set(all_factories())
