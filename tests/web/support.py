"""Helpers of the web tests: log in through the real form, read a page's CSRF token, count the
SQL statements a request runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from msp.extensions import db
from tests.factories import PASSWORD


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 302, response.get_data(True)[:500]
    return response


@contextmanager
def count_statements(app: Flask) -> Iterator[list[str]]:
    """Every statement run on the database while the block runs (the test's connection)."""
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def uncached(app: Flask) -> Iterator[None]:
    """The response cache off while the block runs: what a view itself costs, every time."""
    saved = app.config["MSP_PAGE_CACHE_SECONDS"]
    app.config["MSP_PAGE_CACHE_SECONDS"] = 0
    try:
        yield
    finally:
        app.config["MSP_PAGE_CACHE_SECONDS"] = saved
