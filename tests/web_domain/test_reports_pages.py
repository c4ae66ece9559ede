"""The reports pages through the Flask test client: a tenant admin uploads several files in
one form and sees each file's status and reason after the parse jobs ran; a rejected file is
reprocessed; a viewer cannot upload; MSP staff add an unrouted domain to a tenant and its
waiting reports reach that tenant."""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from msp.auth.models import AuditLog
from msp.demo import aggregate_report
from msp.domains.models import Domain
from msp.extensions import db
from msp.reports.models import RawReport
from tests.factories import make_tenant, make_user
from tests.web_domain.conftest import World, csrf, login


def _report(domain: str, org: str = "google.com") -> bytes:
    import random
    from datetime import UTC, datetime, timedelta

    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    xml = aggregate_report(domain, org, "r@x.example", day - timedelta(days=2), random.Random(1))
    return xml.encode()


def _text(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return html.unescape(response.get_data(True))


def _row(page: str, raw_id: int) -> str:
    return page.split(f'id="raw-{raw_id}">')[1].split("</tr>")[0]


def _upload(client: FlaskClient, files: list[tuple[str, bytes]], **form: Any) -> str:
    data: dict[str, Any] = {"csrf_token": csrf(client, "/reports/upload"), **form}
    data["files"] = [(io.BytesIO(body), name) for name, body in files]
    response = client.post(
        "/reports/upload", data=data, content_type="multipart/form-data", follow_redirects=True
    )
    assert response.status_code == 200
    return html.unescape(response.get_data(True))


def test_admin_uploads_several_files_and_sees_status_and_reason(
    client: FlaskClient, world: World, run_jobs: Callable[..., Any]
) -> None:
    login(client, world.admin)
    page = _text(client, "/reports/upload")
    assert "multiple" in page and 'enctype="multipart/form-data"' in page
    page = _upload(
        client,
        [("good.xml", _report("acme-web.test", "Fresh")), ("broken.xml", b"<feedback><oops")],
    )
    assert "2 files received" in page
    run_jobs()
    page = _text(client, "/reports")
    raws = {r.filename: r for r in db.session.scalars(select(RawReport))}
    good = _row(page, raws["good.xml"].id)
    broken = _row(page, raws["broken.xml"].id)
    assert "Read and stored" in good and "Reprocess" not in good
    assert "aggregate report from fresh about acme-web.test" in good
    assert "Could not be read" in broken and "Reprocess broken.xml" in broken
    raw = raws["broken.xml"]
    assert raw.error and raw.error[:20] in broken
    response = client.post(
        f"/reports/raw/{raw.id}/reprocess", data={"csrf_token": csrf(client, "/reports")}
    )
    assert response.status_code == 302
    db.session.refresh(raw)
    assert raw.status == "pending"
    assert db.session.scalar(select(AuditLog.id).where(AuditLog.action == "report.reprocess"))


def test_an_empty_upload_is_explained_and_a_viewer_cannot_upload(
    client: FlaskClient, world: World
) -> None:
    login(client, world.admin)
    page = _upload(client, [("empty.xml", b"")])
    assert "Nothing was uploaded" in page
    client.post("/logout", data={"csrf_token": csrf(client, "/reports")})
    login(client, world.viewer)
    assert "Upload report files" not in _text(client, "/reports")
    assert client.get("/reports/upload").status_code == 403
    token = csrf(client, "/reports")
    response = client.post(
        "/reports/upload",
        data={"csrf_token": token, "files": [(io.BytesIO(b"<x/>"), "a.xml")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    assert client.get("/reports/unrouted").status_code == 404


def test_msp_staff_add_an_unrouted_domain_to_a_tenant(
    client: FlaskClient, db_session: Any, run_jobs: Callable[..., Any]
) -> None:
    tenant = make_tenant(name="Newco")
    staff = make_user("msp_admin")
    login(client, staff.email)
    _upload(client, [("stray.xml", _report("newco-mail.test"))])
    run_jobs()
    page = _text(client, "/reports/unrouted")
    assert "newco-mail.test" in page and "Add newco-mail.test to tenant" in page
    response = client.post(
        "/reports/unrouted/assign",
        data={
            "csrf_token": csrf(client, "/reports/unrouted"),
            "domain": "newco-mail.test",
            "tenant_id": str(tenant.id),
        },
    )
    assert response.status_code == 302 and "/domains/" in response.location
    run_jobs()
    domain = db.session.scalar(select(Domain).where(Domain.name == "newco-mail.test"))
    assert domain is not None and domain.tenant_id == tenant.id
    raw = db.session.scalar(select(RawReport).where(RawReport.filename == "stray.xml"))
    assert raw is not None
    db.session.refresh(raw)
    assert (raw.status, raw.tenant_id) == ("ingested", tenant.id)
    assert "Every report reached a tenant." in _text(client, "/reports/unrouted")
