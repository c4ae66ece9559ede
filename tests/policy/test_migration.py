"""The policy migration creates exactly what the policy models declare (on PostgreSQL)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from msp.extensions import db

POLICY_TABLES = {"policy_plan", "policy_change", "policy_timeline"}


def _policy_diff(diff: Any) -> bool:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        if isinstance(part, str) and part in POLICY_TABLES:
            return True
        table = getattr(part, "table", None)
        name = getattr(part, "name", None) if table is None else table.name
        if name in POLICY_TABLES:
            return True
    return False


def test_policy_models_and_migration_agree(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, db.metadata) if _policy_diff(d)]
    assert diffs == []
