"""The console in a real browser (Debian's Chromium driven by Playwright) against a live app on
PostgreSQL: an MSP admin onboards a client until its first record verifies against knot; a
tenant viewer finds no write control and a forged write is refused; every page shape passes an
axe-core scan (no serious or critical WCAG 2.x A/AA violation) with no console error; full-page
screenshots at 1280 px and 390 px go to tests/artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD
from tests.support.browser import chromium
from tests.support.dns_server import txt, zone
from tests.web.live import Live, live_console

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    with live_console() as console:
        yield console


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


class Session:
    """One signed-in browser page that records console errors."""

    def __init__(self, browser: Any, live: Live, role: str, width: int = 1280) -> None:
        self.live = live
        self.page = browser.new_page(viewport={"width": width, "height": 900})
        # axe goes in as an init script (injected by the browser's debugging protocol, which
        # the page's Content-Security-Policy does not govern): the CSP itself stays enforced.
        self.page.add_init_script(path=str(AXE))
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(live.base + "/login")
        self.page.fill("input[name=email]", live.email(role))
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def open(self, path: str) -> Any:
        response = self.page.goto(self.live.base + path)
        self.page.wait_for_load_state("networkidle")
        return response

    def serious_violations(self) -> list[tuple[str, str, list[Any]]]:
        result = self.page.evaluate(
            """() => axe.run(document, {runOnly: {type: 'tag', values:
                 ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})"""
        )
        return [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:5])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    def shot(self, name: str, width_name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}-{width_name}.png"), full_page=True)

    def close(self) -> None:
        self.page.close()


def test_msp_admin_onboards_a_client_until_the_first_record_verifies(
    browser: Any, live: Live
) -> None:
    s = Session(browser, live, "msp_admin")
    page = s.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Add a client").click()
    page.fill("#name", "Client Test Ltd")
    page.fill("#timezone", "Europe/Vienna")
    page.select_option("#plan", "pro")
    page.get_by_role("button", name="Create the client and continue").click()
    page.wait_for_selector("#domains")
    page.fill("#domains", "client.test")
    page.get_by_role("button", name="Add these domains").click()
    page.wait_for_selector(".domain-records")
    section = page.locator(".domain-records").first
    domain_id = section.get_attribute("id").removeprefix("domain-")
    dmarc = page.inner_text(f"#value-{domain_id}-dmarc")
    assert (
        dmarc.startswith("v=DMARC1; p=none")
        and f"@{live.app.config['MSP_REPORTS_DOMAIN']}" in dmarc
    )
    assert "not checked" in page.inner_text(f"#record-{domain_id}-dmarc")
    s.shot("onboard-records-before", "desktop")
    # The client publishes the first record (what the copy button gave them), then: check now.
    live.knot.set_zone("client.test", zone("client.test", [f"_dmarc TXT {txt(dmarc)}"], serial=2))
    live.knot.reload()
    page.get_by_role("button", name="Check client.test now").click()
    page.wait_for_selector(f"#record-{domain_id}-dmarc.ok", timeout=20000)
    assert "found" in page.inner_text(f"#record-{domain_id}-dmarc .status")
    assert page.locator(f"#record-{domain_id}-tls-rpt.missing").count() == 1
    assert s.serious_violations() == []
    s.shot("onboard-records-verified", "desktop")
    page.get_by_role("link", name="Continue: invite the client's people").click()
    page.get_by_role("link", name=re.compile("Finish")).click()
    page.wait_for_selector("#tenant-name")
    assert page.inner_text("#tenant-name") == "Client Test Ltd"
    assert "client.test" in page.inner_text("#domains")
    assert s.errors == [], s.errors
    s.close()


def test_tenant_viewer_sees_no_write_control_and_a_forged_write_is_refused(
    browser: Any, live: Live
) -> None:
    s = Session(browser, live, "tenant_viewer")
    tenant = live.demo_tenant_id
    assert s.page.url.endswith(f"/tenants/{tenant}")
    for path in (
        f"/tenants/{tenant}",
        f"/tenants/{tenant}/settings/notifications",
        f"/tenants/{tenant}/settings/billing",
        f"/tenants/{tenant}/settings/digest",
        "/settings/audit",
    ):
        s.open(path)
        forms = s.page.locator("main form[method=post]")
        assert forms.count() == 0, (path, forms.first.inner_html() if forms.count() else "")
    token = s.page.locator("input[name=csrf_token]").first.get_attribute("value")
    forged = s.page.request.post(
        f"{live.base}/tenants/{tenant}/settings/notifications/teams",
        form={"csrf_token": token, "name": "forged"},
    )
    assert forged.status == 403 and "Not allowed" in forged.text()
    assert s.errors == [], s.errors
    s.close()


PAGES = {
    "msp_admin": {
        "portfolio": "/dashboard",
        "tenant": "/tenants/{demo}",
        "onboard": "/onboard",
        "notifications": "/tenants/{demo}/settings/notifications",
        "billing": "/tenants/{demo}/settings/billing",
        "digest": "/tenants/{demo}/settings/digest?preview=1",
        "mailboxes": "/settings/mailboxes",
        "audit": "/settings/audit",
        "settings": "/settings",
        "not-found": "/no-such-page",
    },
    "tenant_admin": {"client-dashboard": "/tenants/{demo}"},
}


@pytest.mark.parametrize("width_name", list(WIDTHS))
def test_every_page_shape_passes_axe_without_console_errors(
    browser: Any, live: Live, width_name: str
) -> None:
    problems: dict[str, Any] = {}
    for role, pages in PAGES.items():
        s = Session(browser, live, role, WIDTHS[width_name])
        for name, path in pages.items():
            response = s.open(path.format(demo=live.demo_tenant_id))
            assert response.status == (404 if name == "not-found" else 200), name
            violations = s.serious_violations()
            if violations:
                problems[name] = violations
            overflow = s.page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 0:
                problems[f"{name} overflows"] = overflow
            s.shot(name, width_name)
            if name == "not-found":  # the browser logs the page's own 404 status
                s.errors = [e for e in s.errors if "404" not in e]
        if s.errors:
            problems[f"{role} console"] = s.errors
        s.close()
    assert problems == {}
