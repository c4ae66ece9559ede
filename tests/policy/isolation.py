"""Tenant B's policy objects for the tenant-isolation test (tests/test_tenant_isolation.py)."""

from __future__ import annotations

from collections.abc import Callable

from msp.db import utcnow
from msp.extensions import db
from msp.policy.models import PolicyChange
from tests.isolation import World


def _change_id(world: World) -> int:
    if "policy_change_b" not in world.extra:
        change = PolicyChange(
            tenant_id=world.tenant_b.id,
            domain_id=world.domain_b.id,
            kind="escalate",
            from_stage="none",
            to_stage="monitor",
            status="proposed",
            auto=False,
            records=[],
            evidence={},
            proposed_at=utcnow(),
            proposed_by="engine",
            reminders=0,
        )
        db.session.add(change)
        db.session.flush()
        world.extra["policy_change_b"] = change.id
    return int(world.extra["policy_change_b"])


FACTORIES: dict[str, Callable[[World], int | str]] = {"change_id": _change_id}
