"""The web pages for the three kinds of user, through the Flask test client with real sessions:
MSP staff see the fleet, a client's users land on their own tenant, viewers cannot change
anything, cookie-authenticated writes need the CSRF token, and the login is rate-limited."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from msp.auth.models import AuditLog
from msp.extensions import db
from msp.reports.models import Sender
from tests.factories import PASSWORD, make_domain, make_tenant, make_user


def _csrf(client: FlaskClient, path: str = "/login") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(True))
    assert match
    return match.group(1)


def _login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": _csrf(client)}
    )


def test_msp_staff_see_every_tenant_on_the_dashboard(client: FlaskClient) -> None:
    staff = make_user("msp_staff")
    make_tenant("alpha", name="Alpha Ltd")
    make_tenant("beta", name="Beta Ltd")
    assert _login(client, staff.email).status_code == 302
    page = client.get("/dashboard").get_data(True)
    assert "Alpha Ltd" in page and "Beta Ltd" in page


def test_tenant_user_lands_on_own_tenant_and_cannot_see_another(client: FlaskClient) -> None:
    own, other = make_tenant("own", name="Own Co"), make_tenant("other", name="Other Co")
    make_domain(own, "own-co.example")
    other_domain = make_domain(other, "other-co.example")
    viewer = make_user("tenant_viewer", own)
    _login(client, viewer.email)
    response = client.get("/dashboard")
    assert response.status_code == 302 and response.location.endswith(f"/tenants/{own.id}")
    assert "own-co.example" in client.get(f"/tenants/{own.id}").get_data(True)
    assert client.get(f"/tenants/{other.id}").status_code == 404
    assert client.get(f"/domains/{other_domain.id}").status_code == 404


def test_viewer_cannot_give_sender_verdicts_but_admin_can(client: FlaskClient) -> None:
    tenant = make_tenant()
    domain = make_domain(tenant)
    viewer, admin = make_user("tenant_viewer", tenant), make_user("tenant_admin", tenant)
    # a verdict is only for a sender the reports have seen
    db.session.add(
        Sender(tenant_id=tenant.id, domain_id=domain.id, key="ip:192.0.2.1", name="192.0.2.1")
    )
    db.session.flush()
    _login(client, viewer.email)
    page = client.get(f"/domains/{domain.id}").get_data(True)
    assert 'name="status"' not in page
    token = _csrf(client, f"/domains/{domain.id}")
    form = {"key": "ip:192.0.2.1", "status": "approved", "csrf_token": token}
    assert client.post(f"/domains/{domain.id}/senders", data=form).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    _login(client, admin.email)
    token = _csrf(client, f"/domains/{domain.id}")
    no_token = {k: v for k, v in form.items() if k != "csrf_token"}
    assert client.post(f"/domains/{domain.id}/senders", data=no_token).status_code == 400
    response = client.post(f"/domains/{domain.id}/senders", data={**form, "csrf_token": token})
    assert response.status_code == 302
    assert db.session.query(AuditLog).filter_by(action="sender.verdict").count() == 1


def test_login_is_rate_limited_per_address(app: Any, client: FlaskClient) -> None:
    user = make_user("msp_admin")
    limit = app.config["MSP_LOGIN_RATE_LIMIT"]
    for n in range(limit):
        # other addresses each time: the per-account back-off (tests/auth) stays out of it
        assert _login(client, f"nobody{n}@example.test", "not the password").status_code == 401
    assert _login(client, user.email).status_code == 429, "even the right password waits"


def test_session_cookie_is_http_only_and_same_site(client: FlaskClient) -> None:
    user = make_user("msp_admin")
    response = _login(client, user.email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
