"""Creating, changing and listing tenants."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from msp.auth.audit import audit
from msp.errors import Conflict, ValidationFailed
from msp.extensions import db
from msp.tenancy.models import Tenant
from msp.tenancy.settings import validate_settings

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
EDITABLE = ("name", "timezone", "plan", "status", "settings")


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(
            f"unknown time zone {name!r}", errors={"timezone": ["unknown time zone"]}
        ) from exc
    return name


def create_tenant(
    slug: str,
    name: str | None = None,
    timezone: str = "UTC",
    plan: str = "standard",
    settings: dict[str, Any] | None = None,
) -> Tenant:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise ValidationFailed(
            "slug must be 1-63 lower-case letters, digits or hyphens", errors={"slug": ["invalid"]}
        )
    if db.session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(f"tenant {slug!r} exists already")
    tenant = Tenant(
        slug=slug,
        name=name or slug,
        timezone=validate_timezone(timezone),
        plan=plan,
        settings=validate_settings(settings or {}),
    )
    db.session.add(tenant)
    db.session.flush()
    audit(
        "tenant.create",
        "tenant",
        tenant.id,
        tenant_id=tenant.id,
        changes={"slug": slug, "name": tenant.name},
    )
    return tenant


def update_tenant(tenant: Tenant, changes: dict[str, Any]) -> Tenant:
    """Apply ``changes``; ``settings``, when given, replaces the whole settings object."""
    if "timezone" in changes:
        validate_timezone(changes["timezone"])
    if "settings" in changes:
        changes = {**changes, "settings": validate_settings(changes["settings"])}
    for key in EDITABLE:
        if key in changes:
            setattr(tenant, key, changes[key])
    audit("tenant.update", "tenant", tenant.id, tenant_id=tenant.id, changes=changes)
    return tenant


def delete_tenant(tenant: Tenant) -> None:
    audit("tenant.delete", "tenant", tenant.id, tenant_id=None, changes={"slug": tenant.slug})
    db.session.delete(tenant)


def tenant_by_slug(slug: str) -> Tenant | None:
    return db.session.scalar(select(Tenant).where(Tenant.slug == slug))
