"""The billing migration makes exactly the tables the models describe (on PostgreSQL)."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from msp.extensions import db

BILLING_TABLES = {"billing_account", "billing_stripe_event", "billing_usage_report"}


def _table_of(diff: Any) -> str | None:
    if isinstance(diff, list):  # modify_* diffs come grouped
        return _table_of(diff[0])
    kind, *rest = diff
    if kind in {"add_table", "remove_table"}:
        return str(rest[0].name)
    if kind in {
        "add_index",
        "remove_index",
        "add_constraint",
        "remove_constraint",
        "add_fk",
        "remove_fk",
    }:
        return str(rest[0].table.name)
    if kind in {"add_column", "remove_column"} or kind.startswith("modify_"):
        return str(rest[1])
    return None


def test_billing_models_and_migration_agree(db_session: Any) -> None:
    context = MigrationContext.configure(db.session.connection(), opts={"compare_type": True})
    diffs = [d for d in compare_metadata(context, db.metadata) if _table_of(d) in BILLING_TABLES]
    assert diffs == []


def test_billing_tables_exist_after_migration(db_session: Any) -> None:
    from sqlalchemy import inspect

    assert set(inspect(db.session.connection()).get_table_names()) >= BILLING_TABLES
