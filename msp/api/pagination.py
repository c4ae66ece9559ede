"""Pagination of list endpoints (flask-smorest's ``X-Pagination`` header) over selects."""

from __future__ import annotations

from typing import Any

from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select, func, select

from msp.extensions import db


def page_of(stmt: Select[Any], pagination: PaginationParameters) -> list[Any]:
    """The requested page of ``stmt``'s rows; sets the total for the pagination header."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    pagination.item_count = total or 0
    if pagination.first_item >= pagination.item_count:
        return []  # past the end (also keeps absurd page numbers away from the database)
    return list(db.session.scalars(stmt.limit(pagination.page_size).offset(pagination.first_item)))
