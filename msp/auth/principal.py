"""The authenticated principal of a request: who acts, and which tenants they may reach."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import g


@dataclass(frozen=True)
class Principal:
    """A user (web session or login) or an API token, with its reach.

    ``tenant_roles`` maps each reachable tenant to the role held there. MSP-wide principals
    (``msp_role`` set and not restricted) reach every tenant: ``all_tenants`` is true.
    """

    kind: str  # "user" or "token"
    id: int
    label: str
    msp_role: str | None = None
    all_tenants: bool = False
    tenant_roles: dict[int, str] = field(default_factory=dict)
    user_id: int | None = None
    # A user who must set up a second factor first (MSP staff, when the setting says so).
    owes_second_factor: bool = False

    @property
    def is_msp(self) -> bool:
        return self.msp_role is not None

    @property
    def is_msp_admin(self) -> bool:
        return self.msp_role == "msp_admin"

    def reaches(self, tenant_id: int | None) -> bool:
        if tenant_id is None:
            return self.is_msp
        return self.all_tenants or tenant_id in self.tenant_roles

    def can_manage(self, tenant_id: int) -> bool:
        """May change the tenant's data (MSP staff, or its tenant_admin)."""
        if not self.reaches(tenant_id):
            return False
        return self.is_msp or self.tenant_roles.get(tenant_id) in {"tenant_admin", "staff"}


def current_principal() -> Principal | None:
    principal = g.get("principal")
    return principal if isinstance(principal, Principal) else None


def set_principal(principal: Principal | None) -> None:
    g.principal = principal
