"""Hooks: how upper areas take part in foundation operations without the foundation importing
them.

The foundation (tenancy, domains) calls the functions here; the areas that plug in are named in
:data:`msp.areas.AREAS` (``domain_add_checks``, ``tenant_settings``) and imported the first time
a hook runs. So ``msp.domains`` never imports billing, and ``msp.tenancy`` never imports policy,
while billing's domain quota and policy's tenant keys still apply everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from msp.areas import AREAS, resolve

if TYPE_CHECKING:
    from msp.tenancy.models import Tenant

# Raises an AppError (Forbidden, Conflict...) when the tenant may not add one more domain.
DomainAddCheck = Callable[["Tenant"], None]
# Problems with the value of one tenant settings key: None (or empty) when valid.
TenantSettingValidator = Callable[[Any], str | dict[str, str] | None]


@cache
def domain_add_checks() -> tuple[DomainAddCheck, ...]:
    return tuple(resolve(target) for area in AREAS for target in area.domain_add_checks)


@cache
def tenant_setting_validators() -> Mapping[str, TenantSettingValidator]:
    return {key: resolve(target) for area in AREAS for key, target in area.tenant_settings}


def run_domain_add_checks(tenant: Tenant) -> None:
    """Every area's check before ``tenant`` adds a domain (billing: the plan's domain quota)."""
    for check in domain_add_checks():
        check(tenant)


def tenant_setting_errors(key: str, value: Any) -> str | dict[str, str] | None:
    """What the owning area finds wrong with tenant setting ``key`` (None when valid or when no
    area validates that key)."""
    validator = tenant_setting_validators().get(key)
    return validator(value) if validator is not None else None
