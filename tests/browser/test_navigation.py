"""Moving on while a page is still loading: the page left behind never draws over the one now shown."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.support import METER
from tests.browser.test_dashboard import log_in

pytestmark = pytest.mark.browser


def test_a_page_that_finishes_loading_after_the_user_moved_on_is_not_shown(page: Page):
    log_in(page, "lee")
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route(f"**/api/v1/devices/{METER}", hold)  # the device page waits for this answer
    page.goto(f"/#/meters/{METER}")
    page.wait_for_timeout(300)
    assert len(held) == 1  # the device page is waiting for its device
    page.goto("/#/exchanges")
    expect(page.locator("#main h1")).to_have_text("Received exchanges")
    held[0].continue_()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)  # time for the device page to draw, had it anywhere to draw
    expect(page.locator("#main h1")).to_have_count(1)
    expect(page.locator("#main h1")).to_have_text("Received exchanges")
    expect(page.locator("#readings-chart")).to_have_count(0)
