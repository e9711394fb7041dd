"""The weighing station's panels come from ``GET /api/v1/scales``: the configured scale and every scale with
a stored reading that the user may see, narrowed by the scale filter."""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from core.store import open_store
from tests.browser.support import Server, screenshot
from tests.web.support import PASSWORD

pytestmark = pytest.mark.browser


async def _readings(store_url: str) -> None:
    async with open_store(store_url) as store:
        now = time.time()
        for scale_id, tenant, weight in (("dock-9", None, "41.30"), ("elsewhere", "gas_other", "99.00")):
            await store.set_scale_latest(
                scale_id,
                {"status": "ST", "weight": Decimal(weight), "unit": "kg", "raw": f"ST,+000{weight} kg"}
                | {"received_at": now, "tenant": tenant},
            )


def store_readings(server: Server) -> None:
    """A shared scale and another tenant's scale that have sent a stable line (written as a listener would)."""
    # in a thread of its own: Playwright's sync API keeps an event loop running in this one
    writing = threading.Thread(target=asyncio.run, args=(_readings(server.store_url),))
    writing.start()
    writing.join()


def test_the_station_shows_the_listed_scales_and_the_filter_narrows_them(page: Page, server: Server):
    store_readings(server)
    page.goto("/")
    form = page.locator("form[aria-labelledby=login-title]")
    form.get_by_label("Login ID").fill("lee")
    form.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    panels = page.locator(".scale-panel")
    expect(panels).to_have_count(2)
    expect(panels.nth(0)).to_have_attribute("data-scale", "default")  # the configured listener's, no reading
    dock = page.locator('.scale-panel[data-scale="dock-9"]')
    expect(dock.locator(".weight")).to_have_text("41.30")  # its latest reading, before any live line
    expect(dock).to_have_attribute("data-state", "stable")
    expect(page.locator('.scale-panel[data-scale="elsewhere"]')).to_have_count(0)  # tenant gas_other's
    expect(page.get_by_label("Scale", exact=True).locator("option")).to_have_text(["default", "dock-9"])
    screenshot(page, "station-listed-scales")

    scales = page.get_by_label("Scale filter (comma-separated IDs; empty: every scale)")
    scales.fill("dock-9, elsewhere")
    scales.press("Enter")
    expect(panels).to_have_count(1)
    expect(dock).to_be_visible()
    scales = page.get_by_label("Scale filter (comma-separated IDs; empty: every scale)")
    scales.fill("no-such-scale")
    scales.press("Enter")
    expect(panels).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="No scale to show")).to_be_visible()
    expect(page.locator("form.commit")).to_have_count(0)
    page.reload()  # the filter is remembered in this browser
    expect(page.get_by_role("status").filter(has_text="No scale to show")).to_be_visible()
    scales = page.get_by_label("Scale filter (comma-separated IDs; empty: every scale)")
    expect(scales).to_have_value("no-such-scale")
    scales.fill("")
    scales.press("Enter")
    expect(panels).to_have_count(2)
