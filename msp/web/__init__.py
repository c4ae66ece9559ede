"""Server-rendered pages: login, the MSP's fleet dashboard and a tenant's own view."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from msp.web.views import bp

    app.register_blueprint(bp)
