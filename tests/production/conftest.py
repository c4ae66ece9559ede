"""Fixtures for the production tests: a database of their own, migrated by ``msp db upgrade heads``
run as a real process (the Helm migration hook's command)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.production.support import MSP, REPO, msp_env


@pytest.fixture(scope="session")
def migrated_database_url(database_url: str, redis_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database (beside the session's) upgraded by `msp db upgrade heads`."""
    server = make_url(database_url)
    name = f"msp_prod_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        done = subprocess.run(
            [MSP, "db", "upgrade", "heads"],
            cwd=REPO,
            env=msp_env(url, redis_url),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
