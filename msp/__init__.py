"""The MSP DMARC platform: ``create_app`` assembles the Flask app; importing does nothing."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported by create_app: `msp check` and `msp alive` never load flask
    from flask import Flask
    from redis import Redis

MIGRATIONS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "migrations"))


def create_app(config: Mapping[str, Any] | None = None, *, serve: bool = True) -> Flask:
    """Build the app from ``MSP_*`` environment variables, or only from ``config`` when given.

    ``serve=False`` builds only what a command needs (settings, database, models, queues): no
    API, pages, probes, metrics or HTTP guards, so `msp plan` does not import them all.
    """
    from flask import Flask

    from msp.config import load_config

    app = Flask("msp", static_folder=None)
    register_converters(app)
    settings = load_config(os.environ if config is None else {}, config)
    register_config(app, settings)
    register_extensions(app)
    register_queues(app)
    if not serve:
        return app
    register_migrations(app)
    register_auth(app)
    register_api(app)
    register_web(app)
    register_health(app)
    register_observability(app)
    register_http_guards(app)
    return app


def register_config(app: Flask, settings: Mapping[str, Any]) -> None:
    from msp.config import all_settings

    known = {setting.name for setting in all_settings()}
    for key, value in settings.items():
        app.config[f"MSP_{key}" if key in known else key] = value
    url = str(settings["DATABASE_URL"])
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        path = os.path.abspath(url.removeprefix("sqlite:///"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        url = f"sqlite:///{path}"
    app.config.update(
        SECRET_KEY=settings["SECRET_KEY"],
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        SESSION_COOKIE_SECURE=settings["SECURE_COOKIES"],
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # The server-side session row holds the expiry: re-signing and re-sending the cookie on
        # every request would only slide the browser's copy.
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=settings.get("REPORTS_MAX_UPLOAD_BYTES") or 64 * 1024 * 1024,
        WTF_CSRF_CHECK_DEFAULT=False,
        TESTING=settings["ENV"] == "test",
    )


def register_converters(app: Flask) -> None:
    """``<int:...>`` URL parts are row ids: a number outside the database's integer range is
    simply not found, instead of a database error."""
    from werkzeug.routing import IntegerConverter

    class IdConverter(IntegerConverter):
        def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("max", 2**31 - 1)
            super().__init__(map, *args, **kwargs)

    app.url_map.converters["int"] = IdConverter


def register_extensions(app: Flask) -> None:
    from msp import generation, models, unit_of_work
    from msp.db import tune_sqlite
    from msp.extensions import csrf, db

    models.load_all()
    db.init_app(app)
    with app.app_context():
        tune_sqlite(db.engine)
    csrf.init_app(app)
    unit_of_work.init_app(app)
    generation.init_app(app)


def register_migrations(app: Flask) -> None:
    from flask_migrate import Migrate

    from msp.extensions import db

    Migrate(app, db, directory=MIGRATIONS_DIR)


def register_queues(app: Flask) -> None:
    from msp import queues

    url = app.config["MSP_REDIS_URL"]

    def connect() -> Redis[bytes]:  # on first use: a command that enqueues nothing never pays
        if url:
            from redis import Redis

            return Redis.from_url(url)
        from msp.inprocess import in_process_connection

        return in_process_connection(app)

    queues.init_app(app, connect)


def register_auth(app: Flask) -> None:
    from msp.auth.request import load_principal

    app.before_request(load_principal)


def register_api(app: Flask) -> None:
    from msp.api import init_app

    init_app(app)


def register_web(app: Flask) -> None:
    from msp.web import init_app

    init_app(app)


def register_health(app: Flask) -> None:
    from msp.health import bp

    app.register_blueprint(bp)


def register_observability(app: Flask) -> None:
    from msp import observability

    observability.init_app(app)


def register_http_guards(app: Flask) -> None:
    from msp import http

    http.init_app(app)
