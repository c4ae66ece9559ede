"""Configuring notifications: teams, their endpoints (secrets sealed), and routing rules.

Delivering messages lives in :mod:`msp.notifications.delivery`; this module never sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from msp.auth.audit import audit
from msp.errors import Conflict, ValidationFailed
from msp.extensions import db
from msp.notifications.channels import ChannelConfigError, UnknownChannel, get_channel, registry
from msp.notifications.crypto import SecretStoreError, seal, unseal
from msp.notifications.models import NotificationEndpoint, NotificationRule, NotificationTeam
from msp.notifications.routing import (
    DEFAULT_RULES,
    DIGEST_TEAMS,
    SEVERITIES,
    TEAM_LABELS,
    TEAMS,
    RuleSpec,
)

TEAM_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
KIND_PATTERN_RE = re.compile(r"^[a-z0-9_.*?-]{1,64}$")
TEAM_EDITABLE = (
    "label",
    "receives_digest",
    "quiet_start",
    "quiet_end",
    "summary_mode",
    "summary_hour",
)


def _check_hours(team: NotificationTeam, changes: dict[str, Any]) -> None:
    """Quiet hours are both set (local hours 0-23) or both unset."""
    start = changes.get("quiet_start", team.quiet_start)
    end = changes.get("quiet_end", team.quiet_end)
    if (start is None) != (end is None):
        raise ValidationFailed(
            "quiet hours need a start and an end",
            errors={"quiet_start" if start is None else "quiet_end": ["required with the other"]},
        )


def _team_by_name(tenant_id: int, name: str) -> NotificationTeam | None:
    return db.session.scalar(
        select(NotificationTeam).where(
            NotificationTeam.tenant_id == tenant_id, NotificationTeam.name == name
        )
    )


def list_teams(tenant_id: int) -> list[NotificationTeam]:
    return list(
        db.session.scalars(
            select(NotificationTeam)
            .where(NotificationTeam.tenant_id == tenant_id)
            .order_by(NotificationTeam.name)
        )
    )


def create_team(
    tenant_id: int, name: str, label: str | None = None, receives_digest: bool | None = None
) -> NotificationTeam:
    name = name.strip().lower()
    if not TEAM_NAME_RE.match(name):
        raise ValidationFailed(
            "team names are lower-case letters, digits and _", errors={"name": ["invalid"]}
        )
    if _team_by_name(tenant_id, name) is not None:
        raise Conflict(f"team {name!r} exists already")
    team = NotificationTeam(
        tenant_id=tenant_id,
        name=name,
        label=label or TEAM_LABELS.get(name, name),
        receives_digest=name in DIGEST_TEAMS if receives_digest is None else receives_digest,
    )
    db.session.add(team)
    db.session.flush()
    audit(
        "notification_team.create",
        "notification_team",
        team.id,
        tenant_id=tenant_id,
        changes={"name": name},
    )
    return team


def ensure_default_teams(tenant_id: int) -> list[NotificationTeam]:
    """The four standard teams exist afterwards (existing ones are left as they are)."""
    for name in TEAMS:
        if _team_by_name(tenant_id, name) is None:
            create_team(tenant_id, name)
    return list_teams(tenant_id)


def update_team(team: NotificationTeam, changes: dict[str, Any]) -> NotificationTeam:
    """Change a team's label, digest, quiet hours or daily-summary mode."""
    _check_hours(team, changes)
    for key in TEAM_EDITABLE:
        if key in changes:
            setattr(team, key, changes[key])
    audit(
        "notification_team.update",
        "notification_team",
        team.id,
        tenant_id=team.tenant_id,
        changes={k: v for k, v in changes.items() if k in TEAM_EDITABLE},
    )
    return team


def delete_team(team: NotificationTeam) -> None:
    audit(
        "notification_team.delete",
        "notification_team",
        team.id,
        tenant_id=team.tenant_id,
        changes={"name": team.name},
    )
    db.session.delete(team)


def _split_config(kind: str, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        return get_channel(kind).split(values)
    except UnknownChannel as exc:
        raise ValidationFailed(str(exc), errors={"kind": [f"one of {sorted(registry())}"]}) from exc
    except ChannelConfigError as exc:
        raise ValidationFailed(
            "the endpoint configuration does not validate", errors={"config": exc.errors}
        ) from exc


def _seal(values: dict[str, str], key: str | None) -> str:
    try:
        return seal(values, key)
    except SecretStoreError as exc:
        raise ValidationFailed(str(exc), errors={"config": [str(exc)]}) from exc


def create_endpoint(
    team: NotificationTeam,
    kind: str,
    config: dict[str, Any],
    *,
    name: str = "",
    enabled: bool = True,
    encryption_key: str | None,
) -> NotificationEndpoint:
    plain, secrets = _split_config(kind, config)
    endpoint = NotificationEndpoint(
        tenant_id=team.tenant_id,
        team_id=team.id,
        kind=kind,
        name=name or kind,
        config=plain,
        sealed_secrets=_seal(secrets, encryption_key),
        enabled=enabled,
    )
    db.session.add(endpoint)
    db.session.flush()
    audit(
        "notification_endpoint.create",
        "notification_endpoint",
        endpoint.id,
        tenant_id=team.tenant_id,
        changes={"kind": kind, "config": plain},
    )
    return endpoint


def endpoint_secrets(endpoint: NotificationEndpoint, key: str | None) -> dict[str, str]:
    return unseal(endpoint.sealed_secrets, key)


def update_endpoint(
    endpoint: NotificationEndpoint, changes: dict[str, Any], *, encryption_key: str | None
) -> NotificationEndpoint:
    """Change name, enabled or configuration; secret fields left out keep their value."""
    if "config" in changes:
        merged = {
            **endpoint_secrets(endpoint, encryption_key),
            **endpoint.config,
            **changes["config"],
        }
        plain, secrets = _split_config(endpoint.kind, merged)
        endpoint.config = plain
        endpoint.sealed_secrets = _seal(secrets, encryption_key)
    for key in ("name", "enabled"):
        if key in changes:
            setattr(endpoint, key, changes[key])
    shown = {k: v for k, v in changes.items() if k != "config"}
    if "config" in changes:
        shown["config"] = endpoint.config
    audit(
        "notification_endpoint.update",
        "notification_endpoint",
        endpoint.id,
        tenant_id=endpoint.tenant_id,
        changes=shown,
    )
    return endpoint


def delete_endpoint(endpoint: NotificationEndpoint) -> None:
    audit(
        "notification_endpoint.delete",
        "notification_endpoint",
        endpoint.id,
        tenant_id=endpoint.tenant_id,
        changes={"kind": endpoint.kind},
    )
    db.session.delete(endpoint)


def list_rules(tenant_id: int) -> list[NotificationRule]:
    return list(
        db.session.scalars(
            select(NotificationRule)
            .where(NotificationRule.tenant_id == tenant_id)
            .order_by(NotificationRule.id)
        )
    )


def rules_for(tenant_id: int) -> list[RuleSpec]:
    """The tenant's routing rules, or the defaults when it has none of its own."""
    rows = db.session.execute(
        select(
            NotificationTeam.name,
            NotificationRule.kinds,
            NotificationRule.min_severity,
            NotificationRule.code,
        )
        .join(NotificationTeam, NotificationTeam.id == NotificationRule.team_id)
        .where(NotificationRule.tenant_id == tenant_id)
        .order_by(NotificationRule.id)
    ).all()
    if not rows:
        return list(DEFAULT_RULES)
    return [RuleSpec(team, kinds, severity, code) for team, kinds, severity, code in rows]


def _validate_rule(
    index: int, spec: dict[str, Any], teams: dict[str, NotificationTeam]
) -> dict[str, list[str]]:
    errors: list[str] = []
    if spec.get("team") not in teams:
        errors.append(f"unknown team {spec.get('team')!r}")
    for field in ("kinds", "code"):
        if not KIND_PATTERN_RE.match(str(spec.get(field, "*"))):
            errors.append(f"{field}: letters, digits, '.', '_', '-', '*' and '?' only")
    if spec.get("min_severity", "info") not in SEVERITIES:
        errors.append(f"min_severity: one of {', '.join(SEVERITIES)}")
    return {str(index): errors} if errors else {}


def replace_rules(tenant_id: int, specs: Iterable[dict[str, Any]]) -> list[NotificationRule]:
    """The tenant's rules become ``specs`` (an empty list: back to the defaults)."""
    specs = list(specs)
    teams = {t.name: t for t in list_teams(tenant_id)}
    errors: dict[str, list[str]] = {}
    for index, spec in enumerate(specs):
        errors.update(_validate_rule(index, spec, teams))
    if errors:
        raise ValidationFailed("the rules do not validate", errors={"rules": errors})
    for rule in list_rules(tenant_id):
        db.session.delete(rule)
    rows = [
        NotificationRule(
            tenant_id=tenant_id,
            team_id=teams[s["team"]].id,
            kinds=s["kinds"],
            code=s.get("code", "*"),
            min_severity=s.get("min_severity", "info"),
        )
        for s in specs
    ]
    db.session.add_all(rows)
    db.session.flush()
    audit(
        "notification_rules.replace",
        "tenant",
        tenant_id,
        tenant_id=tenant_id,
        changes={"rules": specs},
    )
    return rows


def describe_channels() -> list[dict[str, Any]]:
    """Every channel with its configuration fields (for the API and the CLI)."""
    return [
        {
            "kind": c.kind,
            "label": c.label,
            "fields": [
                {
                    "name": f.name,
                    "help": f.help,
                    "required": f.required,
                    "secret": f.secret,
                    "many": f.many,
                }
                for f in c.fields
            ],
        }
        for c in registry().values()
    ]


def rules_document(tenant_id: int) -> dict[str, Any]:
    """The rules in force for the tenant, and whether they are the built-in defaults."""
    own = bool(list_rules(tenant_id))
    rules = [
        {"team": r.team, "kinds": r.kinds, "code": r.code, "min_severity": r.min_severity}
        for r in rules_for(tenant_id)
    ]
    return {"rules": rules, "defaults": not own}
