"""Tenant B's policy objects for the tenant-isolation test (tests/test_tenant_isolation.py)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from msp.extensions import db
from msp.policy import service
from msp.policy.models import PolicyChange
from tests.isolation import World


def _change_id(world: World) -> int:
    if "policy_change_b" not in world.extra:
        service.evaluate_domain(world.domain_b.id)  # proposes monitoring for a new domain
        change = db.session.scalars(
            select(PolicyChange).where(PolicyChange.domain_id == world.domain_b.id)
        ).one()
        world.extra["policy_change_b"] = change.id
    return int(world.extra["policy_change_b"])


FACTORIES: dict[str, Callable[[World], int | str]] = {"change_id": _change_id}
