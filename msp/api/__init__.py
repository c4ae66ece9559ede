"""The JSON API under ``/api/v1``: flask-smorest, marshmallow schemas, RFC 9457 errors, OpenAPI."""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask, Response, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from msp.errors import AppError, problem

RESOURCE_MODULES = (
    "msp.api.me",
    "msp.api.tenants",
    "msp.api.users",
    "msp.api.tokens",
    "msp.api.domains",
    "msp.api.audit",
    "msp.api.system",
    "msp.api.posture",
    "msp.api.reports",
    "msp.api.policy",
    "msp.api.billing",
)
PROBLEM_JSON = "application/problem+json"


def _problem_response(body: dict[str, Any], headers: Any = None) -> Response:
    response = jsonify(body)
    response.status_code = body["status"]
    response.mimetype = PROBLEM_JSON
    for key, value in headers or []:
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


class MspApi(Api):
    """flask-smorest's Api with every error in the one problem-details shape."""

    def handle_http_exception(self, error: HTTPException) -> Any:
        data = getattr(error, "data", None) or {}
        errors = data.get("messages")
        if isinstance(errors, dict) and set(errors) <= {
            "json",
            "query",
            "form",
            "files",
            "path",
            "headers",
        }:
            errors = (
                {k: v for loc in errors.values() for k, v in loc.items()}
                if all(isinstance(v, dict) for v in errors.values())
                else errors
            )
        detail = error.description or error.name
        if errors and error.code == 422:
            detail = "the request does not validate"
        body = problem(error.code or 500, error.name, detail, errors)
        return _problem_response(body, error.get_headers())


def handle_app_error(error: AppError) -> Response:
    return _problem_response(error.to_problem())


def init_app(app: Flask) -> None:
    app.config.update(
        API_TITLE="MSP DMARC platform API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    api = MspApi(app)
    for name in RESOURCE_MODULES:
        module = importlib.import_module(name)
        blp = getattr(module, "blp", None)
        if blp is not None:
            api.register_blueprint(blp)
    app.register_error_handler(AppError, handle_app_error)
    app.extensions["msp_api"] = api
