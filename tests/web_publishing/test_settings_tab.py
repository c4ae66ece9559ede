"""The tenant's "DNS publishing" settings tab through the Flask test client, against a real
knot accepting TSIG-signed updates: add an account from the provider's declared fields (the
secret never shown back), test the connection (in words, both outcomes), edit it (an empty
secret keeps the stored one), remove it after a confirmation page; the publish mode with
automatic only for tenants that opted into automatic escalation; viewers see no control and
are refused forged posts; another tenant's account is out of reach."""

from __future__ import annotations

import html

from flask.testing import FlaskClient

from msp.auth.models import AuditLog
from msp.extensions import db
from msp.publishing.models import DnsProvider
from msp.tenancy.models import Tenant
from tests.factories import make_tenant, make_user
from tests.publishing.servers import TSIG_SECRET, TsigKnot
from tests.web.support import csrf_token, login
from tests.web_publishing.conftest import DOMAIN, Client, add_account


def _page(client: FlaskClient, tenant: Tenant) -> str:
    return html.unescape(client.get(f"/tenants/{tenant.id}/settings/dns").get_data(True))


def _audited(tenant: Tenant) -> list[str]:
    rows = db.session.query(AuditLog.action).filter_by(tenant_id=tenant.id).order_by(AuditLog.id)
    return [action for (action,) in rows]


def test_admin_adds_tests_edits_and_removes_an_account_whose_secret_is_never_shown(
    client: FlaskClient, acme: Client, knot: TsigKnot
) -> None:
    login(client, acme.admin)
    base = f"/tenants/{acme.tenant.id}/settings/dns"
    page = _page(client, acme.tenant)
    for label in ("RFC 2136 dynamic update (TSIG)", "PowerDNS Authoritative HTTP API"):
        assert f"Add an account: {label}" in page
    for label in ("Cloudflare", "Amazon Route 53"):
        assert f"Add an account: {label}" in page
    assert "No DNS provider account yet" in page
    token = csrf_token(client, base)
    options = {f"rfc2136-{k}": v for k, v in knot.options().items()}
    added = client.post(
        f"{base}/providers",
        data={"csrf_token": token, "kind": "rfc2136", "name": "Acme DNS", **options},
    )
    assert added.status_code == 302
    row = db.session.query(DnsProvider).filter_by(tenant_id=acme.tenant.id).one()
    page = _page(client, acme.tenant)
    assert "Acme DNS" in page and knot.nameserver in page and "TSIG secret: set" in page
    assert TSIG_SECRET not in page and "never shown" in page

    test = f"{base}/providers/{row.id}/test"
    client.post(test, data={"csrf_token": token, "zone": DOMAIN})
    page = _page(client, acme.tenant)
    assert f"Acme DNS can read zone {DOMAIN}" in page

    wrong = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE="
    edit = {f"edit-{row.id}-{k}": v for k, v in knot.options().items()}
    client.post(
        f"{base}/providers/{row.id}",
        data={"csrf_token": token, "name": "Acme DNS", **edit, f"edit-{row.id}-tsig_secret": wrong},
    )
    client.post(test, data={"csrf_token": token, "zone": DOMAIN})
    page = _page(client, acme.tenant)
    assert f"Acme DNS cannot read zone {DOMAIN}" in page and "Check the server address" in page

    # renamed, secret field left empty: the stored (wrong) secret stays; put the right one back
    edit[f"edit-{row.id}-tsig_secret"] = ""
    client.post(f"{base}/providers/{row.id}", data={"csrf_token": token, "name": "Main", **edit})
    client.post(test, data={"csrf_token": token, "zone": DOMAIN})
    assert f"Main cannot read zone {DOMAIN}" in _page(client, acme.tenant)
    edit[f"edit-{row.id}-tsig_secret"] = TSIG_SECRET
    client.post(f"{base}/providers/{row.id}", data={"csrf_token": token, "name": "Main", **edit})
    client.post(test, data={"csrf_token": token, "zone": DOMAIN})
    assert f"Main can read zone {DOMAIN}" in _page(client, acme.tenant)

    confirm = html.unescape(client.get(f"{base}/providers/{row.id}/remove").get_data(True))
    assert "Remove DNS provider account Main?" in confirm and ">Remove Main</button>" in confirm
    assert db.session.get(DnsProvider, row.id) is not None, "asking removes nothing"
    client.post(f"{base}/providers/{row.id}/remove", data={"csrf_token": token})
    page = _page(client, acme.tenant)
    assert "DNS provider account Main removed" in page and "No DNS provider account yet" in page
    actions = _audited(acme.tenant)
    for action in ("dns_provider.create", "dns_provider.update", "dns_provider.test"):
        assert action in actions
    assert actions[-1] == "dns_provider.delete"


def test_a_bad_account_is_refused_in_words_and_nothing_is_stored(
    client: FlaskClient, acme: Client
) -> None:
    login(client, acme.admin)
    base = f"/tenants/{acme.tenant.id}/settings/dns"
    token = csrf_token(client, base)
    client.post(
        f"{base}/providers",
        data={"csrf_token": token, "kind": "rfc2136", "name": "Half", "rfc2136-server": "x"},
    )
    page = _page(client, acme.tenant)
    assert "not added" in page and "tsig_name: required" in page
    assert db.session.query(DnsProvider).filter_by(tenant_id=acme.tenant.id).count() == 0


def test_automatic_publishing_only_for_a_tenant_that_opted_into_automatic_escalation(
    client: FlaskClient, acme: Client
) -> None:
    login(client, acme.admin)
    base = f"/tenants/{acme.tenant.id}/settings/dns"
    token = csrf_token(client, base)
    page = _page(client, acme.tenant)
    assert "Nobody has chosen a mode yet" in page
    assert 'value="automatic"  disabled' in page
    client.post(f"{base}/mode", data={"csrf_token": token, "mode": "on_approval"})
    page = _page(client, acme.tenant)
    assert "Publish mode of Acme Publishing: on approval" in page
    client.post(f"{base}/mode", data={"csrf_token": token, "mode": "automatic"})
    page = _page(client, acme.tenant)
    assert "Publish mode not changed" in page and "automatic escalation" in page
    db.session.refresh(acme.tenant)
    assert acme.tenant.settings["publishing"]["mode"] == "on_approval"

    acme.tenant.settings = {**acme.tenant.settings, "policy": {"auto_escalate": True}}
    db.session.flush()
    client.post(f"{base}/mode", data={"csrf_token": token, "mode": "automatic"})
    assert "Publish mode of Acme Publishing: automatic" in _page(client, acme.tenant)
    assert _audited(acme.tenant).count("tenant.publish_mode") == 2


def test_viewer_sees_the_accounts_without_controls_and_forged_posts_are_refused(
    client: FlaskClient, acme: Client, knot: TsigKnot
) -> None:
    row = add_account(acme, knot)
    login(client, acme.viewer)
    base = f"/tenants/{acme.tenant.id}/settings/dns"
    page = _page(client, acme.tenant)
    assert "Acme DNS" in page and "DNS publishing" in page
    for control in ("Add an account", "Test connection", "Remove Acme DNS", "Save the publish"):
        assert control not in page
    token = csrf_token(client, base)
    for path, data in (
        (f"{base}/providers", {"kind": "rfc2136", "name": "x"}),
        (f"{base}/providers/{row.id}", {"name": "y"}),
        (f"{base}/providers/{row.id}/test", {"zone": DOMAIN}),
        (f"{base}/providers/{row.id}/remove", {}),
        (f"{base}/mode", {"mode": "manual"}),
    ):
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    assert client.get(f"{base}/providers/{row.id}/remove").status_code == 403
    assert db.session.get(DnsProvider, row.id) is not None


def test_another_tenants_account_is_out_of_reach(
    client: FlaskClient, acme: Client, knot: TsigKnot
) -> None:
    row = add_account(acme, knot)
    other = make_tenant()
    login(client, make_user("tenant_admin", other).email)
    token = csrf_token(client, f"/tenants/{other.id}/settings/dns")
    assert client.get(f"/tenants/{acme.tenant.id}/settings/dns").status_code == 404
    own_base = f"/tenants/{other.id}/settings/dns/providers/{row.id}"
    for path in (own_base, f"{own_base}/test", f"{own_base}/remove"):
        assert client.post(path, data={"csrf_token": token}).status_code == 404, path
    assert "Acme DNS" not in _page(client, other)


def test_a_post_without_its_csrf_token_is_refused(client: FlaskClient, acme: Client) -> None:
    login(client, acme.admin)
    answer = client.post(f"/tenants/{acme.tenant.id}/settings/dns/mode", data={"mode": "manual"})
    assert answer.status_code == 400
    assert "publishing" not in (db.session.get_one(Tenant, acme.tenant.id).settings or {})
