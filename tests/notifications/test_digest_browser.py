"""The digest's HTML in a real browser (Debian's Chromium through Playwright) at the width of a
desktop mail client (600 px) and of a phone (390 px): the chart loads, nothing overflows
sideways, and a screenshot of each is kept in tests/artifacts/ for a reviewer to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from msp.db import utcnow
from msp.notifications.digest import build_digest
from msp.notifications.digest_render import render_digest, with_data_uris
from msp.notifications.settings import Brand
from tests.notifications.digest_world import seed_world
from tests.support.browser import chromium

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


@pytest.fixture
def digest_page(db_session: Any, tmp_path: Path) -> Path:
    now = utcnow()
    world = seed_world(now)
    brand = Brand(name="Acme IT", color="#1f4e79", reply_to="help@acme-it.example",
                  postal_address="1 Main Street, Springfield")  # fmt: skip
    rendered = render_digest(build_digest(world.tenant, now, "https://msp.example"), brand)
    page = tmp_path / "digest.html"
    page.write_text(with_data_uris(rendered.html, rendered.images), encoding="utf-8")
    return page


@pytest.mark.parametrize("width", [600, 390])
def test_the_digest_reads_well_at_desktop_and_phone_width(
    browser: Any, digest_page: Path, width: int
) -> None:
    # JavaScript off, as in every mail client; requests to anything but the file fail.
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    remote: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith(("file:", "data:")) else remote.append(r.url)
    )
    page.goto(digest_page.as_uri())
    chart = page.locator('img[alt^="DMARC pass share"]')
    assert chart.evaluate("img => img.complete && img.naturalWidth") == 1120
    box = chart.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= width, f"the page scrolls sideways at {width}px ({overflow}px wide)"
    assert page.get_by_text("1 domain moved to p=reject.", exact=True).is_visible()
    assert page.get_by_role("link", name="Unsubscribe").is_visible()
    assert remote == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"digest-{width}.png"), full_page=True)
    context.close()
