"""Server-rendered pages: login, the MSP's fleet dashboard and a tenant's own view.

One blueprint (``blueprint.py``); each page module adds its routes to it when imported."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from msp.web import (  # noqa: F401  (each adds its routes)
        account,
        domain_pages,
        onboarding,
        settings_pages,
        shell,
        views,
    )
    from msp.web.blueprint import bp

    app.register_blueprint(bp)
