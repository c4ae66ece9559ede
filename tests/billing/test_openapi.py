"""The billing endpoints in the OpenAPI document: the webhook needs no bearer token."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_openapi_lists_billing_and_webhook_has_no_security(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert {
        "/api/v1/billing/webhook",
        "/api/v1/tenants/{tenant_id}/billing",
        "/api/v1/tenants/{tenant_id}/billing/subscribe",
    } <= set(paths)
    assert paths["/api/v1/billing/webhook"]["post"]["security"] == []
    assert "security" not in paths["/api/v1/tenants/{tenant_id}/billing"]["get"]
