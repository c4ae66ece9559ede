"""Imports every model so that Alembic and the tests see the whole schema."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "msp.tenancy.models",
    "msp.auth.models",
    "msp.domains.models",
    "msp.events",
    "msp.dns.models",
    "msp.reports.models",
    "msp.policy.models",
    "msp.notifications.models",
    "msp.billing.models",
)


def load_all() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
