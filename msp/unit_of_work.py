"""One commit per request: the request's changes commit after a successful response."""

from __future__ import annotations

import logging

from flask import Flask, Response
from sqlalchemy.exc import IntegrityError

from msp.errors import Conflict
from msp.extensions import db

log = logging.getLogger(__name__)


def commit_response(response: Response) -> Response:
    if not db.session.registry.has():
        return response  # the request never opened a session (a kept page, a probe): no work
    if response.status_code >= 400:
        db.session.rollback()
        return response
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        log.info("request lost a uniqueness race: %s", exc.orig)
        from msp.api import handle_app_error

        return handle_app_error(Conflict("the change conflicts with existing data"))
    return response


def init_app(app: Flask) -> None:
    app.after_request(commit_response)
