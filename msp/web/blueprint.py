"""The one web blueprint ("web") that every page module adds its routes to, and the helpers
every page shares (the current principal, a tenant-managed domain)."""

from __future__ import annotations

from flask import Blueprint

from msp.auth.principal import Principal, current_principal

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)


def principal_or_none() -> Principal | None:
    return current_principal()
