"""The domain and reports pages in a real browser (Debian's Chromium driven by Playwright)
against ``msp standalone --demo`` whose DNS checks go to a knot server on loopback: approve a
sender and undo it, propose and approve an escalation, run the what-if, upload a file; an
axe-core scan of every page shape with no serious or critical violation, no console error;
screenshots at 1280 px and 390 px in tests/artifacts; and the server time of each page."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import fresh_database
from tests.support.browser import chromium
from tests.support.dns_server import KnotServer, txt, zone
from tests.support.standalone import _free_port, first_admin

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "web" / "vendor" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts"
DEMO = "demo-client.example"


@pytest.fixture(scope="module")
def demo_dns() -> Iterator[KnotServer]:
    zones = {
        DEMO: zone(
            DEMO,
            [
                f"@ IN TXT {txt('v=spf1 ip4:192.0.2.10 ip4:192.0.2.11 ~all')}",
                "@ IN MX 10 mail",
                "mail IN A 192.0.2.25",
            ],
        ),
        "demo-client-parked.example": zone("demo-client-parked.example", []),
        "example": zone("example", []),
    }
    with KnotServer(zones) as server:
        yield server


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, demo_dns: KnotServer
) -> Iterator[dict[str, Any]]:
    """``msp standalone --demo`` on its own PostgreSQL database (production's engine, so the
    page times mean something), its DNS checks pointed at ``demo_dns``."""
    with fresh_database("msp_webdomain") as url:
        yield from _standalone(tmp_path_factory.mktemp("site"), url, demo_dns)


def _standalone(tmp: Path, url: str, demo_dns: KnotServer) -> Iterator[dict[str, Any]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSP_")}
    env.update(
        MSP_DATABASE_URL=url,
        MSP_SECURE_COOKIES="false",
        MSP_DNS_NAMESERVERS=demo_dns.nameserver,
        MSP_DNS_TIMEOUT="1",
        MSP_DNS_RETRIES="0",
    )
    log_path = tmp / "standalone.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("msp")),
                "standalone",
                "--port",
                str(port),
                "--demo",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while not _healthy(base):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(log_path.read_text())
                time.sleep(0.3)
            yield {"base": base, "log": log_path}
        finally:
            proc.terminate()
            proc.wait(15)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
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


def _login(page: Any, site: dict[str, Any]) -> None:
    email, password = first_admin(site["log"])
    page.goto(site["base"] + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")


def _domain_url(page: Any, site: dict[str, Any]) -> str:
    page.goto(site["base"] + "/dashboard")
    page.get_by_role("link", name="Demo client").first.click()
    page.get_by_role("link", name=DEMO, exact=True).first.click()
    page.wait_for_selector("#domain-name")
    return str(page.url.split("#")[0])


def _check_dns(page: Any, site: dict[str, Any], url: str) -> None:
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    domain_id = url.rstrip("/").rsplit("/", 1)[1]
    response = page.request.post(
        f"{site['base']}/api/v1/domains/{domain_id}/check", headers={"X-CSRFToken": token}
    )
    assert response.status in (200, 201), response.text()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _propose_unless_the_engine_did(page: Any) -> None:
    """The DNS check queues an evaluation (a job running beside the page), which proposes the
    first step itself when its gates pass: wait for it a while, then propose by hand."""
    for _ in range(20):
        if page.locator("#approve").count():
            return
        time.sleep(0.5)
        page.reload()
    page.click("#propose")
    page.wait_for_selector("#approve")


def test_approve_and_undo_a_sender_then_propose_and_approve(
    browser: Any, site: dict[str, Any]
) -> None:
    page = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _login(page, site)
    url = _domain_url(page, site)
    _check_dns(page, site, url)
    page.goto(url)
    row = page.locator("#senders tr", has_text="203.0.113.30")
    row.get_by_role("button", name="Approve sender 203.0.113.30").click()
    page.wait_for_selector(".flash")
    row = page.locator("#senders tr", has_text="203.0.113.30")
    assert "approved" in row.locator(".verdict").inner_text()
    assert row.get_by_role("button", name="Approve sender 203.0.113.30").count() == 0
    row.get_by_role("button", name="Undo verdict on 203.0.113.30").click()
    page.wait_for_selector(".flash")
    row = page.locator("#senders tr", has_text="203.0.113.30")
    assert "unknown" in row.locator(".verdict").inner_text()
    _propose_unless_the_engine_did(page)
    assert "waiting for approval" in page.inner_text("#change-status")
    page.click("#approve")
    page.wait_for_selector("#reschedule")
    assert page.locator("#approve").count() == 0, "after approving, the approve button is gone"
    assert "Approved: the move to monitor" in page.inner_text(".flashes")
    _shot(page, "domain-1280.png")
    assert serious_violations(page) == []
    assert errors == []


def test_page_shapes_pass_axe_at_desktop_and_phone_width(
    browser: Any, site: dict[str, Any]
) -> None:
    for width in (1280, 390):
        page = browser.new_context(
            viewport={"width": width, "height": 900}, bypass_csp=True
        ).new_page()
        errors: list[str] = []
        page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
        _login(page, site)
        url = _domain_url(page, site)
        shapes = {
            "domain": url,
            "whatif": url + "/what-if?record=v%3DDMARC1%3B+p%3Dreject&days=30",
            "reports": site["base"] + "/reports",
            "upload": site["base"] + "/reports/upload",
            "unrouted": site["base"] + "/reports/unrouted",
        }
        for name, target in shapes.items():
            page.goto(target)
            _shot(page, f"{name}-{width}.png")
            assert serious_violations(page) == [], (name, width)
            if width == 390:
                overflow = page.evaluate(
                    "() => document.documentElement.scrollWidth - window.innerWidth"
                )
                assert overflow <= 0, (name, overflow)
        assert errors == [], errors
        page.close()


def test_upload_with_the_form_and_see_the_file_listed(
    browser: Any, site: dict[str, Any], tmp_path: Path
) -> None:
    page = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True).new_page()
    _login(page, site)
    report = tmp_path / "dropped.xml"
    report.write_text("<feedback><oops")
    page.goto(site["base"] + "/reports/upload")
    page.set_input_files("#upload-files", str(report))
    page.click("#upload-submit")
    page.wait_for_url("**/reports")
    assert "1 file received" in page.inner_text(".flashes")
    assert "dropped.xml" in page.inner_text("#raw-reports")


def test_server_time_per_page_with_the_demo_data(site: dict[str, Any], browser: Any) -> None:
    """Prints the median server time of each page (no assertion on time: shared CPUs)."""
    page = browser.new_page()
    _login(page, site)
    url = _domain_url(page, site)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    targets = {
        "domain": url,
        "whatif": url + "/what-if?record=v%3DDMARC1%3B+p%3Dreject",
        "reports": site["base"] + "/reports",
        "unrouted": site["base"] + "/reports/unrouted",
    }
    with httpx.Client(cookies=cookies) as client:
        for name, target in targets.items():
            times = []
            for _ in range(7):
                started = time.perf_counter()
                assert client.get(target).status_code == 200
                times.append((time.perf_counter() - started) * 1000)
            print(
                f"server time {name}: median {statistics.median(times):.0f} ms, "
                f"max {max(times):.0f} ms"
            )
