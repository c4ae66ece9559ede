"""The JSON API under ``/api/v1``: flask-smorest, marshmallow schemas, RFC 9457 errors, OpenAPI."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from flask_smorest import Api
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from msp.areas import api_modules, load
from msp.errors import AppError, BadRequest, problem

PROBLEM_JSON = "application/problem+json"


def _problem_response(body: dict[str, Any], headers: Any = None) -> Response:
    response = jsonify(body)
    response.status_code = body["status"]
    response.mimetype = PROBLEM_JSON
    for key, value in headers or []:
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


class ProblemSchema(Schema):
    """RFC 9457 problem details: the one shape of every error."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Raw(metadata={"description": "per-field messages, when a field is at fault"})


class MspApi(Api):
    """flask-smorest's Api with every error in the one problem-details shape, documented as
    ``application/problem+json``."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        super()._register_responses()
        for response in self.spec.components.responses_lazy.values():
            content = response.get("content", {})
            if "application/json" in content:
                content[PROBLEM_JSON] = content.pop("application/json")

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


# Endpoints that verify a signature over the raw body and store it as bytes (not text fields).
RAW_BODY_ENDPOINTS = frozenset({"billing.StripeWebhook"})


def reject_nul_characters() -> None:
    """NUL cannot be stored in PostgreSQL text: refuse it in query strings, JSON and forms
    (uploaded files, which may hold any byte, are not text fields and are not checked)."""
    if request.endpoint in RAW_BODY_ENDPOINTS:
        return
    if "\x00" in request.query_string.decode("latin-1") or "%00" in request.query_string.decode(
        "latin-1"
    ):
        raise BadRequest("the query string contains a NUL character")
    if request.mimetype in {"application/json", "application/x-www-form-urlencoded"}:
        body = request.get_data(cache=True)
        if b"\x00" in body or b"\\u0000" in body:
            raise BadRequest("the request contains a NUL character")


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
    # Each area's resources, named in msp/areas.py; every one exports ``blp``.
    for name in api_modules():
        api.register_blueprint(load(name).blp)
    app.register_error_handler(AppError, handle_app_error)
    app.before_request(reject_nul_characters)
    app.extensions["msp_api"] = api
