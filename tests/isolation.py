"""The world for the tenant-isolation test: tenant A (the caller's) and tenant B (the target),
and how to find tenant B's object for each URL parameter name.

Each area adds factories for the parameters of its own routes in ``tests/<area>/isolation.py``
as ``FACTORIES: dict[str, Callable[[World], int | str]]``; a route whose parameter has no
factory fails the isolation test, so a new endpoint cannot go untested.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from msp.auth.models import ApiToken, Membership, User
from msp.domains.models import Domain
from msp.tenancy.models import Tenant
from tests.factories import Caller, make_domain, make_tenant, make_user, token_caller


@dataclass
class World:
    tenant_a: Tenant
    tenant_b: Tenant
    domain_a: Domain
    domain_b: Domain
    user_b: User
    membership_b: Membership
    token_b: ApiToken
    callers: dict[str, Caller]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def markers(self) -> list[str]:
        """Strings that must never appear in an answer to tenant A."""
        return [
            self.tenant_b.slug,
            self.tenant_b.report_token,
            self.domain_b.name,
            self.user_b.email,
            *self.extra.get("markers", []),
        ]


def build_world() -> World:
    from msp.extensions import db

    tenant_a = make_tenant("tenant-a-iso", name="Tenant A")
    tenant_b = make_tenant("tenant-b-secret", name="Tenant B Secret")
    domain_a = make_domain(tenant_a, "alpha-a.example")
    domain_b = make_domain(tenant_b, "secret-b.example")
    user_b = make_user("tenant_admin", tenant_b, email="b-admin@b-secret.example")
    membership_b = user_b.memberships[0]
    b_caller = token_caller("tenant_admin", tenant_b)
    token_b = db.session.get(ApiToken, b_caller.principal.id)
    staff_a = make_user("msp_staff", restricted=True, email="staff-a@msp.example")
    from msp.auth.users import add_membership

    add_membership(tenant_a.id, staff_a, "staff")
    db.session.flush()
    from msp.auth.service import issue_token

    staff_token = issue_token(
        _staff_principal(staff_a),
        name="staff-a",
        tenant_id=None,
        role="msp_staff",
        days=1,
        now=_now(),
    )
    callers = {
        "tenant_admin_a": token_caller("tenant_admin", tenant_a),
        "tenant_viewer_a": token_caller("tenant_viewer", tenant_a),
        "restricted_staff_a": Caller(
            _staff_principal(staff_a), {"Authorization": f"Bearer {staff_token.secret}"}
        ),
    }
    assert token_b is not None
    return World(tenant_a, tenant_b, domain_a, domain_b, user_b, membership_b, token_b, callers)


def _now() -> Any:
    from msp.db import utcnow

    return utcnow()


def _staff_principal(user: User) -> Any:
    from msp.auth.service import principal_for_user

    return principal_for_user(user)


CORE_FACTORIES: dict[str, Callable[[World], int | str]] = {
    "tenant_id": lambda w: w.tenant_b.id,
    "domain_id": lambda w: w.domain_b.id,
    "membership_id": lambda w: w.membership_b.id,
    "user_id": lambda w: w.user_b.id,
    "token_id": lambda w: w.token_b.id,
    "invitation_id": lambda w: _invitation_b(w),
    # One-time links (/invite/<token>, /reset/<token>): the token is the credential itself.
    "token": lambda w: "not-a-valid-one-time-token",
}


def _invitation_b(world: World) -> int:
    """An open invitation of tenant B (its e-mail goes nowhere: no relay in tests)."""
    from msp.auth.invites import invite

    if "invitation_b" not in world.extra:
        invitation, _raw = invite(
            world.tenant_b, "invitee@b-secret.example", "tenant_viewer", by=None, now=_now()
        )
        world.extra["invitation_b"] = invitation.id
        world.extra.setdefault("markers", []).append("invitee@b-secret.example")
    return int(world.extra["invitation_b"])


def all_factories() -> dict[str, Callable[[World], int | str]]:
    """Core factories plus those of every ``tests/<area>/isolation.py``."""
    import tests

    factories = dict(CORE_FACTORIES)
    for info in pkgutil.iter_modules(tests.__path__):
        if not info.ispkg:
            continue
        try:
            module = importlib.import_module(f"tests.{info.name}.isolation")
        except ModuleNotFoundError as exc:
            if exc.name != f"tests.{info.name}.isolation":
                raise
            continue
        factories.update(getattr(module, "FACTORIES", {}))
    return factories
