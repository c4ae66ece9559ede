"""Tenant B's DNS provider account for the tenant-isolation walk over every route."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app

from msp.publishing import accounts
from tests.isolation import World

B_SECRET = "Yi1zZWNyZXQtdHNpZy1rZXktb2YtdGVuYW50LWItMDA="


def _provider_b(world: World) -> int:
    if "dns_provider_b" not in world.extra:
        row = accounts.add_provider(
            world.tenant_b,
            "b-secret-dns",
            "rfc2136",
            {"server": "192.0.2.53", "tsig_name": "b-secret-key", "tsig_secret": B_SECRET},
            current_app.config["MSP_ENCRYPTION_KEY"],
        )
        accounts.set_domain_provider(world.domain_b, row.id)
        world.extra["dns_provider_b"] = row.id
        world.extra.setdefault("markers", []).extend(["b-secret-dns", "b-secret-key", B_SECRET])
    return int(world.extra["dns_provider_b"])


FACTORIES: dict[str, Callable[[World], int | str]] = {"provider_id": _provider_b}
