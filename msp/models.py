"""Imports every area's models (named in msp/areas.py) so that Alembic and the tests see the
whole schema."""

from __future__ import annotations

from msp.areas import load, model_modules


def load_all() -> None:
    for name in model_modules():
        load(name)
