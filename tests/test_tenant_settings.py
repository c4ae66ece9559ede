"""Tenant settings: the known keys are type- and range-checked (422 problem details naming each
bad key, through the API and the service alike), unknown keys are refused, and what the API
stores is what failure-report ingestion obeys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from msp.errors import ValidationFailed
from msp.extensions import db
from msp.reports import service as reports
from msp.reports.models import FailureReportRow
from msp.tenancy.models import Tenant
from msp.tenancy.service import create_tenant, update_tenant
from tests.factories import make_domain, make_tenant, token_caller
from tests.reports.corpus import CORPUS

FAILURE = CORPUS / "forensic" / "dmarc_ruf_report_linkedin.eml"


def _problem(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return response.get_json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("settings", "bad_key", "message"),
    [
        ({"failure_reports_redacted": "no"}, "failure_reports_redacted", "true or false"),
        ({"failure_reports_redacted": 0}, "failure_reports_redacted", "true or false"),
        ({"failure_reports_redacted": None}, "failure_reports_redacted", "true or false"),
        ({"failure_report_retention_days": 0}, "failure_report_retention_days", "between 1"),
        ({"failure_report_retention_days": 3651}, "failure_report_retention_days", "3650"),
        ({"failure_report_retention_days": "30"}, "failure_report_retention_days", "whole"),
        ({"failure_report_retention_days": 30.5}, "failure_report_retention_days", "whole"),
        ({"failure_report_retention_days": True}, "failure_report_retention_days", "whole"),
        ({"failure_report_retention_day": 30}, "failure_report_retention_day", "unknown"),
        ({"policy": "strict"}, "policy", "object"),
    ],
)
def test_a_bad_setting_is_a_422_naming_the_key_and_nothing_changes(
    client: FlaskClient, settings: dict[str, Any], bad_key: str, message: str
) -> None:
    tenant = make_tenant(settings={"failure_report_retention_days": 60})
    staff = token_caller("msp_admin")
    db.session.commit()
    response = client.patch(
        f"/api/v1/tenants/{tenant.id}", json={"settings": settings}, headers=staff.headers
    )
    body = _problem(response)
    assert message in body["errors"]["settings"][bad_key]
    assert bad_key in body["detail"]
    db.session.expire_all()
    assert db.session.get(Tenant, tenant.id).settings == {"failure_report_retention_days": 60}


def test_every_bad_key_is_reported_at_once_on_create(client: FlaskClient) -> None:
    staff = token_caller("msp_admin")
    bad = {"failure_reports_redacted": "yes", "failure_report_retention_days": -1, "colour": 1}
    response = client.post(
        "/api/v1/tenants", json={"slug": "badset", "settings": bad}, headers=staff.headers
    )
    assert set(_problem(response)["errors"]["settings"]) == set(bad)
    assert db.session.scalar(select(Tenant).where(Tenant.slug == "badset")) is None


def test_the_policy_object_is_checked_by_the_policy_area(client: FlaskClient) -> None:
    tenant = make_tenant()
    staff = token_caller("msp_admin")
    db.session.commit()
    url = f"/api/v1/tenants/{tenant.id}"
    bad = client.patch(
        url, json={"settings": {"policy": {"auto_escalat": True}}}, headers=staff.headers
    )
    assert _problem(bad)["errors"]["settings"]["policy"] == {
        "auto_escalat": "unknown policy setting"
    }
    good = {"policy": {"auto_escalate": True}, "failure_report_retention_days": 3650}
    ok = client.patch(url, json={"settings": good}, headers=staff.headers)
    assert ok.status_code == 200 and ok.get_json()["settings"] == good


def test_the_service_refuses_the_same_values_for_every_caller(db_session: Any) -> None:
    with pytest.raises(ValidationFailed) as created:
        create_tenant("svc-bad", settings={"failure_report_retention_days": 0})
    assert "failure_report_retention_days" in created.value.errors["settings"]
    tenant = make_tenant()
    with pytest.raises(ValidationFailed):
        update_tenant(tenant, {"settings": {"failure_reports_redacted": "false"}})
    with pytest.raises(ValidationFailed):
        update_tenant(tenant, {"settings": ["failure_reports_redacted"]})
    assert tenant.settings == {}


def test_the_openapi_document_lists_the_known_keys(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    for name in ("Tenant", "TenantUpdate"):
        settings = spec["components"]["schemas"][name]["properties"]["settings"]
        assert settings["additionalProperties"] is False
        retention = settings["properties"]["failure_report_retention_days"]
        assert (retention["minimum"], retention["maximum"]) == (1, 3650)


def test_settings_stored_through_the_api_drive_failure_report_ingestion(
    client: FlaskClient,
) -> None:
    tenant = make_tenant("keep-ruf")
    make_domain(tenant, "example.com")
    staff = token_caller("msp_admin")
    db.session.commit()
    keep = {"failure_reports_redacted": False, "failure_report_retention_days": 7}
    response = client.patch(
        f"/api/v1/tenants/{tenant.id}", json={"settings": keep}, headers=staff.headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    [outcome] = reports.ingest_now(FAILURE.read_bytes(), source="cli", filename="ruf.eml")[1]
    stored = db.session.scalars(select(FailureReportRow)).one()
    assert outcome.kind == "failure" and not stored.redacted and stored.subject
    kept_for = stored.expires_at - datetime.now(UTC)
    assert timedelta(days=6, hours=23) < kept_for <= timedelta(days=7)
