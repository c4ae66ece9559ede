"""Server-rendered pages: login, the MSP's fleet dashboard and a tenant's own view.

One blueprint (``blueprint.py``); each page module adds its routes to it when imported."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from msp.web import account, domain_pages, onboarding, shell, views  # noqa: F401
    from msp.web.blueprint import bp

    app.register_blueprint(bp)
