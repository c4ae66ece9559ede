"""marshmallow schemas of the API: pure validation and shaping, no database access."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

MAX_ID = 2**31 - 1


def IdField(**kwargs: Any) -> fields.Integer:
    """A row id given by the client: a positive database integer."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)
