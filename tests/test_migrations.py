"""Migrations are the only way the schema is made: from an empty PostgreSQL database they build
exactly what the models declare, and they go down and up again cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from msp import MIGRATIONS_DIR, create_app
from msp.extensions import db
from tests.conftest import fresh_database, test_config


@pytest.fixture
def empty_database() -> Iterator[str]:
    with fresh_database("msp_mig") as url:
        yield url


def _diff(connection: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, db.metadata)


def test_upgrade_from_empty_matches_the_models_and_round_trips(empty_database: str) -> None:
    app = create_app(test_config(empty_database, None))
    with app.app_context():
        upgrade(revision="heads")
        with db.engine.connect() as conn:
            assert _diff(conn) == []
            tables = set(sa.inspect(conn).get_table_names())
        assert {"tenant", "domain", "user_account", "api_token", "audit_log"} <= tables
        downgrade(revision="base")
        with db.engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
        upgrade(revision="heads")
        with db.engine.connect() as conn:
            assert _diff(conn) == []
        db.engine.dispose()


def test_every_revision_file_has_a_downgrade() -> None:
    script = ScriptDirectory(MIGRATIONS_DIR)
    for revision in script.walk_revisions():
        if revision.is_merge_point:
            continue  # a merge changes nothing, so undoing it changes nothing either
        assert revision.module.downgrade.__code__.co_code != (lambda: None).__code__.co_code, (
            f"{revision.revision} has an empty downgrade"
        )


def test_there_is_one_head_so_plain_db_upgrade_works() -> None:
    heads = ScriptDirectory(MIGRATIONS_DIR).get_heads()
    assert len(heads) == 1, f"merge the heads {heads}: `msp db merge heads`"
