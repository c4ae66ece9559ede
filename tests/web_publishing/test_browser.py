"""The publishing pages in a real browser (Debian's Chromium driven by Playwright) against the
app served on loopback, its DNS lookups and its RFC 2136 account on a TSIG knot: a client's
admin adds the DNS account through the form and tests it, attaches it to the domain, presses
"Publish now", meets a hand edit (held, what differs shown) and publishes over it after the
confirmation page; the record lands in knot. axe-core finds no serious or critical violation
on any page shape at 1280 and 390 px, no console error; screenshots in tests/artifacts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from msp import create_app
from msp.db import utcnow
from msp.extensions import db
from msp.policy.loader import EXTENSION_KEY
from msp.publishing import accounts
from tests.conftest import fresh_database, test_config
from tests.factories import PASSWORD, make_domain, make_tenant, make_user
from tests.publishing.conftest import DnsEvidence, base_records, check_now
from tests.publishing.servers import TsigKnot, zone
from tests.publishing.test_end_to_end import issue, txt_at
from tests.support.browser import chromium
from tests.web_publishing.conftest import DOMAIN, HOSTED, edit_by_hand

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "web" / "vendor" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts"
ADMIN = "it@acme-publishing.test"
VIEWER = "boss@acme-publishing.test"
UNVERIFIED = "branch-office.test"


@dataclass(frozen=True)
class Site:
    base: str
    knot: TsigKnot
    tenant_id: int
    domain_id: int
    unverified_id: int
    record: str


def _seed(knot: TsigKnot) -> tuple[int, int, int, str]:
    """A client with an admin and a viewer; its domain checked against knot and its first step
    approved and issued (waiting to be written); a second domain the client added itself."""
    from msp.auth.principal import Principal, set_principal
    from msp.bootstrap import migrate_to_latest

    migrate_to_latest()
    tenant = make_tenant("acme-pub", name="Acme Publishing", timezone="Europe/Berlin")
    domain = make_domain(tenant, DOMAIN, dkim_selectors=["google"])
    make_user("tenant_admin", tenant, email=ADMIN)
    make_user("tenant_viewer", tenant, email=VIEWER)
    accounts.set_tenant_mode(tenant, "on_approval")
    at = utcnow()
    check_now(knot.nameserver, domain.id, at - timedelta(minutes=5))
    change = issue(domain.id, at)
    set_principal(Principal("user", 0, ADMIN, tenant_roles={tenant.id: "tenant_admin"}))
    unverified = make_domain(tenant, UNVERIFIED)  # added by the client: not verified yet
    set_principal(None)
    ids = (tenant.id, domain.id, unverified.id, str(change.records[0]["value"]))
    db.session.commit()
    return ids


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    zones = {
        DOMAIN: zone(DOMAIN, base_records()),
        UNVERIFIED: zone(UNVERIFIED, []),
        HOSTED: zone(HOSTED, ['@ TXT "msp"']),
    }
    knot = TsigKnot(zones)
    knot.start()
    try:
        with fresh_database("msp_pubweb") as url:
            app = create_app(
                test_config(
                    url,
                    None,
                    REPORTS_DOMAIN="reports.msp.test",
                    DNS_NAMESERVERS=[knot.nameserver],
                    DNS_TIMEOUT=1.0,
                    DNS_RETRIES=0,
                    DNS_PROBE_SELECTORS=False,
                    HOSTED_ZONE=HOSTED,
                    HOSTED_PROVIDER_KIND="rfc2136",
                    HOSTED_PROVIDER_OPTIONS=knot.options(),
                )
            )
            app.extensions[EXTENSION_KEY] = DnsEvidence()
            with app.app_context():
                tenant_id, domain_id, unverified_id, record = _seed(knot)
                db.engine.dispose()
            app.extensions.pop(EXTENSION_KEY, None)
            server = make_server("127.0.0.1", 0, app, threaded=True)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                base = f"http://127.0.0.1:{server.server_port}"
                yield Site(base, knot, tenant_id, domain_id, unverified_id, record)
            finally:
                server.shutdown()
                thread.join(10)
                with app.app_context():
                    db.engine.dispose()
    finally:
        knot.stop()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Any]:
    """After the site: seeding runs the DNS checker (asyncio), Playwright's loop must not run."""
    yield from chromium()


def serious_violations(page: Any) -> list[tuple[str, str, list[Any]]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag',
               values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})"""
    )
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _page(browser: Any, width: int, errors: list[str]) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page


# Elements wider than the phone's screen, other than the content of a box that scrolls itself
OUTSIDE_SCROLL_BOXES = """() => [...document.querySelectorAll('main *')]
    .filter(e => e.getBoundingClientRect().right > 392 && !e.closest('.dp-scroll, .table-wrap'))
    .map(e => e.tagName + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"""


def _login(page: Any, site: Site, email: str) -> None:
    page.goto(site.base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#who")  # signed in (a client's user lands on its dashboard)


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _flash(page: Any) -> str:
    return str(page.inner_text(".flashes"))


def test_admin_connects_the_dns_and_publishes_over_a_hand_edit(site: Site, browser: Any) -> None:
    errors: list[str] = []
    page = _page(browser, 1280, errors)
    _login(page, site, ADMIN)
    page.goto(f"{site.base}/tenants/{site.tenant_id}/settings/dns")
    page.get_by_text("Add an account: RFC 2136 dynamic update (TSIG)").click()
    page.fill("#rfc2136-name", "Acme DNS server")
    for key, value in site.knot.options().items():
        page.fill(f"#rfc2136-{key}", value)
    page.get_by_role("button", name="Add RFC 2136 dynamic update (TSIG) account").click()
    assert "DNS provider account Acme DNS server added" in _flash(page)
    page.fill("[id^=test-zone-]", DOMAIN)
    page.get_by_role("button", name="Test connection of Acme DNS server").click()
    assert f"Acme DNS server can read zone {DOMAIN}" in _flash(page)
    assert serious_violations(page) == []

    page.goto(f"{site.base}/domains/{site.domain_id}")
    page.get_by_text(f"Change where and how {DOMAIN} is published").click()
    page.select_option("#pub-provider", label="Acme DNS server (rfc2136)")
    page.get_by_role("button", name=f"Save publishing of {DOMAIN}").click()
    assert f"Publishing of {DOMAIN} saved" in _flash(page)
    assert "Written through Acme DNS server" in page.inner_text("#publish-where")
    page.get_by_role("link", name=f"Show what the next publication of {DOMAIN} would write").click()
    assert site.record in page.inner_text("#publish-diff")

    by_hand = "v=DMARC1; p=none; rua=mailto:someone@elsewhere.test"
    edit_by_hand(site.knot, DOMAIN, f"_dmarc.{DOMAIN}", by_hand)
    page.get_by_role("button", name=f"Publish {DOMAIN} now").click()
    assert f"Publish {DOMAIN}'s record now?" in page.inner_text("h1")
    assert serious_violations(page) == []
    page.get_by_role("button", name=f"Publish {DOMAIN} now").click()
    assert "Not written: the record of" in _flash(page)
    assert by_hand in page.inner_text("#publication-problem")
    page.locator("#publishing").scroll_into_view_if_needed()
    _shot(page, "publishing-domain-held-1280.png")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#publishing").screenshot(path=str(ARTIFACTS / "publishing-section-held-1280.png"))
    assert serious_violations(page) == []

    page.get_by_role("button", name=f"Publish over the hand edit of {DOMAIN}").click()
    assert "Their change is lost" in page.inner_text("#confirm-consequence")
    page.get_by_role("button", name=f"Publish over the hand edit of {DOMAIN}").click()
    assert f"Written for {DOMAIN} via Acme DNS server" in _flash(page)
    assert site.record in txt_at(site.knot, f"_dmarc.{DOMAIN}")
    assert by_hand not in txt_at(site.knot, f"_dmarc.{DOMAIN}")
    _shot(page, "publishing-domain-written-1280.png")
    page.goto(f"{site.base}/tenants/{site.tenant_id}/settings/dns")
    _shot(page, "publishing-settings-1280.png")
    assert errors == []


def test_page_shapes_pass_axe_at_phone_width_and_the_viewer_sees_no_button(
    site: Site, browser: Any
) -> None:
    errors: list[str] = []
    page = _page(browser, 390, errors)
    _login(page, site, VIEWER)
    page.goto(f"{site.base}/domains/{site.domain_id}#publishing")
    assert page.locator("#publishing").count() == 1
    assert page.locator("#publishing button").count() == 0
    assert page.locator("#publishing-settings").count() == 0
    assert serious_violations(page) == []
    page.goto(f"{site.base}/tenants/{site.tenant_id}/settings/dns")
    assert page.get_by_role("button").filter(has_text="Test connection").count() == 0
    assert serious_violations(page) == []
    page.goto(f"{site.base}/dashboard")
    page.get_by_role("button", name="Log out").click()

    _login(page, site, ADMIN)
    for path, name in (
        (f"/tenants/{site.tenant_id}/settings/dns", "publishing-settings-390.png"),
        (f"/domains/{site.domain_id}", "publishing-domain-390.png"),
        (f"/domains/{site.unverified_id}", "publishing-verification-390.png"),
        (f"/onboard/{site.tenant_id}/records", "publishing-onboard-records-390.png"),
    ):
        page.goto(site.base + path)
        _shot(page, name)
        assert serious_violations(page) == [], path
        wide = page.evaluate(OUTSIDE_SCROLL_BOXES)
        assert wide == [], f"{path}: at 390 px these reach past the screen: {wide}"
    page.goto(f"{site.base}/domains/{site.unverified_id}")
    text = page.inner_text("#verification")
    assert f"_msp-verify.{UNVERIFIED}" in text and "Not verified yet" in text
    page.get_by_role("button", name=f"Check now whether {UNVERIFIED} is verified").click()
    assert "is not verified yet" in _flash(page)
    assert errors == []
