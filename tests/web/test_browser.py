"""The web pages in a real browser (Debian's Chromium driven by Playwright): log in as the
first MSP admin, see the demo tenant seeded from the sample reports, open it, log out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.support.browser import chromium
from tests.support.standalone import first_admin, run_standalone


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


@pytest.fixture
def demo_site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    yield from run_standalone(tmp_path, "--demo")


def test_msp_admin_logs_in_sees_demo_tenant_and_logs_out(
    browser: Any, demo_site: dict[str, Any], tmp_path: Path
) -> None:
    email, password = first_admin(demo_site["log"])
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.goto(demo_site["base"] + "/")
    assert page.url.endswith("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "wrong e-mail or password" in page.inner_text("#login-error")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")
    assert page.inner_text("#who") == email
    assert "Demo client" in page.inner_text("#tenants")
    page.click("#tenants >> text=Demo client")
    page.wait_for_selector("#tenant-name")
    assert "demo-client.example" in page.inner_text("#domains")
    page.screenshot(path=str(tmp_path / "tenant.png"))
    page.click("text=demo-client.example")
    page.wait_for_selector("#domain-name")
    senders = page.inner_text("#senders")
    assert "203.0.113.30" in senders and "unknown" in senders, senders
    assert "p=none" in page.inner_text("#next-record")
    row = page.locator("#senders tr", has_text="192.0.2.10")
    row.get_by_role("button", name="Approve sender 192.0.2.10").click()
    page.wait_for_selector(".flash")
    assert "approved" in page.locator("#senders tr", has_text="192.0.2.10").inner_text()
    page.screenshot(path=str(tmp_path / "domain.png"), full_page=True)
    page.click("text=Log out")
    page.wait_for_url("**/login")
    page.goto(demo_site["base"] + "/dashboard")
    assert urlparse(page.url).path == "/login", "the session must end at logout"
