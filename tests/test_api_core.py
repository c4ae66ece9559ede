"""The core API: tenants, domains, users, tokens, audit; one error shape; pagination."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient

from msp.auth.models import AuditLog
from msp.extensions import db
from tests.factories import make_domain, make_tenant, token_caller


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body  # type: ignore[no-any-return]


def test_msp_admin_creates_tenant_and_domain_with_idna(client: FlaskClient) -> None:
    admin = token_caller("msp_admin")
    r = client.post("/api/v1/tenants", json={"slug": "acme", "name": "Acme"}, headers=admin.headers)
    assert r.status_code == 201, r.get_data(as_text=True)
    tenant_id = r.get_json()["id"]
    r = client.post(
        f"/api/v1/tenants/{tenant_id}/domains",
        json={"name": "Bücher.Example."},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["name"] == "xn--bcher-kva.example"
    r = client.get("/api/v1/domains", headers=admin.headers)
    assert [d["name"] for d in r.get_json()] == ["xn--bcher-kva.example"]
    assert json.loads(r.headers["X-Pagination"])["total"] == 1


def test_duplicate_domain_is_a_conflict_and_writes_nothing(client: FlaskClient) -> None:
    admin = token_caller("msp_admin")
    a, b = make_tenant(), make_tenant()
    make_domain(a, "taken.example")
    before = db.session.query(AuditLog).count()
    r = client.post(
        f"/api/v1/tenants/{b.id}/domains", json={"name": "TAKEN.example"}, headers=admin.headers
    )
    _problem(r, 409)
    assert db.session.query(AuditLog).count() == before


def test_invalid_domain_names_are_rejected(client: FlaskClient) -> None:
    admin = token_caller("msp_admin")
    tenant = make_tenant()
    for bad in [
        "localhost",
        "-bad.example",
        "a..b",
        "x" * 64 + ".example",
        "1.2.3.4",
        "under_score.example",
        "",
    ]:
        r = client.post(
            f"/api/v1/tenants/{tenant.id}/domains", json={"name": bad}, headers=admin.headers
        )
        body = _problem(r, 422)
        assert "name" in (body.get("errors") or {}), (bad, body)


def test_unknown_fields_wrong_types_and_malformed_json(client: FlaskClient) -> None:
    admin = token_caller("msp_admin")
    r = client.post("/api/v1/tenants", json={"slug": "x", "colour": "red"}, headers=admin.headers)
    assert "colour" in _problem(r, 422)["errors"]
    r = client.post("/api/v1/tenants", json={"slug": 12}, headers=admin.headers)
    assert "slug" in _problem(r, 422)["errors"]
    r = client.post(
        "/api/v1/tenants",
        data="{not json",
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422)
    _problem(r, r.status_code)


def test_token_expired_or_revoked_is_refused(client: FlaskClient) -> None:
    from datetime import timedelta

    from msp.auth.models import ApiToken
    from msp.db import utcnow

    caller = token_caller("msp_admin")
    assert client.get("/api/v1/me", headers=caller.headers).status_code == 200
    token = db.session.get(ApiToken, caller.principal.id)
    assert token is not None
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    assert "expired" in _problem(client.get("/api/v1/me", headers=caller.headers), 401)["detail"]
    token.expires_at = utcnow() + timedelta(days=1)
    token.revoked_at = utcnow()
    db.session.flush()
    assert "revoked" in _problem(client.get("/api/v1/me", headers=caller.headers), 401)["detail"]
    _problem(client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}), 401)
    _problem(client.get("/api/v1/domains"), 401)


def test_token_is_shown_once_and_stored_hashed(client: FlaskClient) -> None:
    admin = token_caller("msp_admin")
    tenant = make_tenant()
    r = client.post(
        "/api/v1/tokens",
        json={"name": "ci", "tenant_id": tenant.id, "role": "tenant_viewer"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    secret = r.get_json()["token"]
    listed = client.get("/api/v1/tokens", headers=admin.headers).get_data(as_text=True)
    assert secret not in listed
    from msp.auth.models import ApiToken

    assert all(secret not in t.token_hash for t in db.session.query(ApiToken))
    viewer = {"Authorization": f"Bearer {secret}"}
    assert client.get(f"/api/v1/tenants/{tenant.id}", headers=viewer).status_code == 200
    token_id = r.get_json()["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=admin.headers).status_code == 204
    _problem(client.get(f"/api/v1/tenants/{tenant.id}", headers=viewer), 401)


def test_tenant_viewer_cannot_change_but_admin_can(client: FlaskClient) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    viewer, admin = token_caller("tenant_viewer", tenant), token_caller("tenant_admin", tenant)
    body = {"dkim_selectors": ["s1", "google"]}
    _problem(client.patch(f"/api/v1/domains/{domain.id}", json=body, headers=viewer.headers), 403)
    r = client.patch(f"/api/v1/domains/{domain.id}", json=body, headers=admin.headers)
    assert r.status_code == 200
    assert r.get_json()["dkim_selectors"] == ["google", "s1"]


def test_every_change_is_audited_with_actor_and_origin(client: FlaskClient) -> None:
    admin = token_caller("msp_admin")
    r = client.post(
        "/api/v1/tenants",
        json={"slug": "audited"},
        headers=admin.headers,
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert r.status_code == 201
    rows = client.get(
        "/api/v1/audit", query_string={"action": "tenant.create"}, headers=admin.headers
    ).get_json()
    row = next(x for x in rows if x["changes"].get("slug") == "audited")
    assert row["actor_type"] == "token"
    assert row["ip"] == "198.51.100.7"


def test_pagination_pages_through_everything(client: FlaskClient) -> None:
    admin = token_caller("msp_admin")
    tenant = make_tenant()
    names = sorted(make_domain(tenant).name for _ in range(7))
    seen: list[str] = []
    for page in (1, 2, 3):
        r = client.get(
            f"/api/v1/tenants/{tenant.id}/domains",
            query_string={"page": page, "page_size": 3},
            headers=admin.headers,
        )
        seen += [d["name"] for d in r.get_json()]
    assert seen == names


def test_openapi_document_lists_the_resources(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in (
        "/api/v1/tenants",
        "/api/v1/domains/{domain_id}",
        "/api/v1/tokens",
        "/api/v1/audit",
        "/api/v1/users",
    ):
        assert path in spec["paths"], path


def test_health_and_readiness(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_adding_a_domain_beyond_the_plan_is_refused_when_billing_is_on(
    app: Any, client: FlaskClient, monkeypatch: Any
) -> None:
    monkeypatch.setitem(app.config, "MSP_STRIPE_API_KEY", "sk_test_quota")
    admin = token_caller("msp_admin")
    tenant = make_tenant(plan="trial")  # three domains
    for n in range(3):
        r = client.post(
            f"/api/v1/tenants/{tenant.id}/domains",
            json={"name": f"q{n}.example"},
            headers=admin.headers,
        )
        assert r.status_code == 201, r.get_data(as_text=True)
    r = client.post(
        f"/api/v1/tenants/{tenant.id}/domains", json={"name": "q3.example"}, headers=admin.headers
    )
    assert "allows 3 domains" in _problem(r, 409)["detail"]


def test_sender_verdicts_and_mailbox_changes_are_audited(client: FlaskClient) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    admin = token_caller("tenant_admin", tenant)
    from msp.reports.models import Sender

    # A verdict is only for a sender the domain has (seen in reports, or declared as here).
    db.session.add(
        Sender(tenant_id=tenant.id, domain_id=domain.id, key="ip:192.0.2.9", name="192.0.2.9")
    )
    db.session.flush()
    r = client.put(
        f"/api/v1/domains/{domain.id}/senders/ip:192.0.2.9",
        json={"status": "forwarder"},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    actions = {a.action for a in db.session.query(AuditLog).filter_by(tenant_id=tenant.id)}
    assert "sender.verdict" in actions
