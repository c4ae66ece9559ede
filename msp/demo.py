"""The demo tenant of the standalone mode: a tenant and domains, filled from sample reports."""

from __future__ import annotations

import logging

from msp.tenancy.service import create_tenant, tenant_by_slug

log = logging.getLogger(__name__)
DEMO_DOMAINS = ("example.com",)


def seed_demo() -> None:
    """Create the ``demo`` tenant once, with the sample domains."""
    if tenant_by_slug("demo") is not None:
        return
    from msp.domains.service import add_domain

    tenant = create_tenant("demo", "Demo client")
    for name in DEMO_DOMAINS:
        add_domain(tenant, name)
