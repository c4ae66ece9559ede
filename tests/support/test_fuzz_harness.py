"""The schemathesis harness (tests/support/fuzz.py) finds what it is there to find: a server
error, an answer off the documented shape, and tolerates only the statuses it is told to."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields

from tests.support.fuzz import api_operations, fuzz


class Thing(Schema):
    name = fields.String(required=True)


def _app(status: int, body: object, raw: str | None = None) -> Flask:
    """An API of one documented operation, GET /api/v1/thing -> 200 Thing, that answers
    ``status`` with ``body``."""
    app = Flask("fuzz-harness")
    app.config.update(
        API_TITLE="harness",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    blp = Blueprint("thing", __name__, url_prefix="/api/v1")

    @blp.route("/thing")
    class ThingView(MethodView):
        @blp.response(200, Thing)  # type: ignore[untyped-decorator]
        def get(self) -> Any:
            if raw is not None:  # past the response schema, as a buggy view could answer
                return Response(raw, status=status, mimetype="application/json")
            return body, status

    Api(app).register_blueprint(blp)
    return app


def _problems(
    status: int, body: object, tolerated: tuple[int, ...] = (), raw: str | None = None
) -> list[str]:
    app = _app(status, body, raw)
    operations = api_operations(app)
    assert [op.path for op in operations] == ["/api/v1/thing"]
    return fuzz(app, operations, {}, examples=2, tolerated=tolerated)


def test_a_conforming_answer_is_no_problem() -> None:
    assert _problems(200, {"name": "ok"}) == []


def test_a_server_error_is_a_problem() -> None:
    [problem] = _problems(500, {"name": "ok"})
    assert problem.startswith("GET /api/v1/thing: 500")


def test_an_answer_off_the_documented_shape_is_a_problem() -> None:
    [problem] = _problems(200, None, raw='["not", "a", "Thing"]')
    assert "GET /api/v1/thing" in problem and "schema" in problem.lower()


def test_a_tolerated_status_must_still_be_documented() -> None:
    # 502 is tolerated, but the document's default error shape still applies to its body.
    assert _problems(502, {"name": "ok"}, tolerated=(502,))
    assert _problems(502, {"name": "ok"}) != []  # not tolerated: a server error
