"""The weighing station on the real live WebSocket (``GET /api/v1/live`` of a running ``specgate serve``, no
stand-in): the page says live, an unstable line from the scale shows as unstable (polling never shows one:
``latest/`` holds stable readings only), the settled stable weight follows within a second, and an overload
line shows as an overload."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from playwright.sync_api import Page, WebSocket, expect

from plugins.fg150kal.simulator import OVERLOAD_LINE, weight_line
from tests.browser.support import Server, screenshot
from tests.browser.test_dashboard import log_in, send_lines

pytestmark = pytest.mark.browser


def wait_for(page: Page, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Until ``condition`` holds; the page's events (the socket's frames) are handled while waiting."""
    until = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < until, "the condition did not hold in time"
        page.wait_for_timeout(20)


def test_the_station_follows_the_real_live_socket(page: Page, server: Server):
    frames: list[dict] = []

    def opened(ws: WebSocket) -> None:
        if ws.url.endswith("/api/v1/live"):
            ws.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", opened)
    log_in(page, "lee")
    badge = page.locator("h1 .badge.mode")
    expect(badge).to_have_attribute("data-mode", "live")
    expect(badge).to_have_text("live")
    panel = page.locator('.scale-panel[data-scale="default"]')
    expect(panel).to_be_visible()
    wait_for(page, lambda: [frame["type"] for frame in frames][:2] == ["hello", "subscribed"])

    with socket.create_connection(("127.0.0.1", server.scale_port), timeout=5) as conn:
        send_lines(conn, [weight_line("US", Decimal("41.30"))], 0)
        expect(panel).to_have_attribute("data-state", "unstable")
        expect(panel.locator(".weight")).to_have_text("41.30")
        expect(panel.locator(".badge")).to_have_text("Unstable")
        screenshot(page, "station-real-live-unstable")

        send_lines(conn, [weight_line("ST", Decimal("62.45"))], 0)
        sent = time.monotonic()
        expect(panel.locator(".weight")).to_have_text("62.45", timeout=1000)
        shown_after = time.monotonic() - sent
        expect(panel).to_have_attribute("data-state", "stable")
        expect(panel.locator(".badge")).to_have_text("Stable")

        send_lines(conn, [OVERLOAD_LINE], 0)
        expect(panel).to_have_attribute("data-state", "overload")
        expect(panel.locator(".weight")).to_have_text("OVERLOAD")
        expect(panel.locator(".badge")).to_have_text("OVERLOAD")
        screenshot(page, "station-real-live-overload")
    assert shown_after < 1.0, f"the stable weight took {shown_after:.2f} s to show"
    expect(badge).to_have_attribute("data-mode", "live")  # never fell back to polling
    pushed = [frame for frame in frames if frame["type"] == "scale"]
    assert [frame["status"] for frame in pushed] == ["US", "ST", "OL"]
    assert pushed[0]["stable"] is False and pushed[1]["stable"] is True and pushed[2]["weight"] is None
