"""Factories for test data, built through the services (so they obey the same rules)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from msp.auth.models import User
from msp.auth.principal import Principal
from msp.auth.service import issue_token, principal_for_user
from msp.auth.users import create_user
from msp.db import utcnow
from msp.domains.models import Domain
from msp.domains.service import add_domain
from msp.extensions import db
from msp.tenancy.models import Tenant
from msp.tenancy.service import create_tenant

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)
_OPERATOR = Principal(kind="test", id=0, label="factory", msp_role="msp_admin", all_tenants=True)


def make_tenant(slug: str | None = None, **fields: Any) -> Tenant:
    return create_tenant(slug or f"tenant-{next(_seq)}", **fields)


def make_domain(tenant: Tenant, name: str | None = None, **fields: Any) -> Domain:
    return add_domain(tenant, name or f"d{next(_seq)}.{tenant.slug}.example", **fields)


def make_user(
    role: str, tenant: Tenant | None = None, *, email: str | None = None, restricted: bool = False
) -> User:
    data: dict[str, Any] = {
        "email": email or f"user{next(_seq)}@example.test",
        "password": PASSWORD,
    }
    if role.startswith("msp_"):
        data.update(msp_role=role, staff_restricted=restricted)
    else:
        assert tenant is not None, "tenant roles need a tenant"
        data.update(tenant_id=tenant.id, tenant_role=role)
    user = create_user(None, data)
    db.session.flush()
    db.session.refresh(user)
    return user


@dataclass(frozen=True)
class Caller:
    """Credentials for calling the API as someone: ``headers`` carry a bearer token."""

    principal: Principal
    headers: dict[str, str]


def token_caller(role: str, tenant: Tenant | None = None) -> Caller:
    """An API token of ``role`` (MSP-wide when ``tenant`` is None)."""
    issued = issue_token(
        _OPERATOR,
        name=f"t{next(_seq)}",
        tenant_id=tenant.id if tenant else None,
        role=role,
        days=30,
        now=utcnow(),
    )
    from msp.auth.service import principal_for_token

    return Caller(principal_for_token(issued.token), {"Authorization": f"Bearer {issued.secret}"})


def user_principal(user: User) -> Principal:
    return principal_for_user(user)
