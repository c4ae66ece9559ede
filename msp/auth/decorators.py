"""View guards: authentication required, MSP staff only, unrestricted MSP staff only, MSP admin
only, and the manage check for one tenant."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from msp.auth.principal import Principal
from msp.errors import Forbidden
from msp.tenancy.scope import require_principal

P = ParamSpec("P")
R = TypeVar("R")


def require_auth(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        require_principal()
        return fn(*args, **kwargs)

    return wrapper


def require_msp(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not require_principal().is_msp:
            raise Forbidden("this endpoint is for MSP staff")
        return fn(*args, **kwargs)

    wrapper.msp_only = True  # type: ignore[attr-defined]
    return wrapper


def require_unrestricted_msp() -> Principal:
    """The principal, if it is MSP staff reaching every tenant (restricted staff are not)."""
    principal = require_principal()
    if not (principal.is_msp and principal.all_tenants):
        raise Forbidden("this is for MSP staff who reach every tenant")
    return principal


def require_msp_unrestricted(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        require_unrestricted_msp()
        return fn(*args, **kwargs)

    wrapper.msp_only = True  # type: ignore[attr-defined]
    return wrapper


def require_msp_admin(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not require_principal().is_msp_admin:
            raise Forbidden("this endpoint is for MSP administrators")
        return fn(*args, **kwargs)

    wrapper.msp_only = True  # type: ignore[attr-defined]
    return wrapper


def require_manage(tenant_id: int) -> Principal:
    """The principal, if it may change this tenant's data (MSP staff or tenant_admin)."""
    principal = require_principal()
    if not principal.can_manage(tenant_id):
        raise Forbidden("you may view but not change this tenant's data")
    return principal
