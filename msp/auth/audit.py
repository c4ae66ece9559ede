"""The audit log: every change made by a person or a token (who, what, when, from where)."""

from __future__ import annotations

import getpass
from typing import Any

from flask import g, has_app_context

from msp.auth.models import AuditLog
from msp.auth.principal import current_principal
from msp.extensions import db


def set_origin(ip: str) -> None:
    """Remember the client address of this request for the audit rows it writes."""
    g.audit_ip = ip


def audit(
    action: str,
    object_type: str,
    object_id: Any,
    *,
    tenant_id: int | None,
    changes: dict[str, Any] | None = None,
    actor: tuple[str, int | None, str] | None = None,
) -> AuditLog:
    """Record a change. ``actor`` (type, id, label) names who acted when no principal is
    authenticated yet (a user accepting an invitation or resetting a password)."""
    principal = current_principal() if has_app_context() else None
    if actor is not None and principal is None:
        actor_type, actor_id, label = actor
    elif principal is not None:
        actor_type, actor_id, label = principal.kind, principal.id, principal.label
    else:
        actor_type, actor_id, label = "cli", None, f"cli:{getpass.getuser()}"
    row = AuditLog(
        tenant_id=tenant_id,
        actor_type=actor_type,
        actor_id=actor_id,
        actor_label=label,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        changes=changes or {},
        ip=g.get("audit_ip", "") if has_app_context() else "",
    )
    db.session.add(row)
    return row
