"""A real ``specgate serve`` (SQLite store, a scale listener and a gas-meter listener on ephemeral ports) and
Debian's Chromium driven by Playwright, for the dashboard's end-to-end tests.

The tenant, its users and a meter are put in the store before the server starts. Screenshots go to
``$SPECGATE_ARTIFACTS`` (default ``tests/browser/artifacts/``, ignored by git).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from core.store import open_store
from tests.browser.support import CYLINDER, METER, TENANT, USERS, Server
from tests.gateway.serving import serving_config
from tests.web.support import add_user

STARTUP_TIMEOUT = 30.0


async def _seed(store_url: str) -> None:
    async with open_store(store_url) as store:
        for login, (role, lang) in USERS.items():
            await add_user(store, TENANT, login, role, lang=lang, system_admin=login == "kim")
        await store.add_device(
            TENANT,
            {"device_uid": METER, "flag": True, "ref_interval": 3600, "installer_id": "kim", "customer_no": "C0001"},
        )
        now = time.time()
        await store.add_dead_letter(
            {"device_type": "gas_meter", "ip": "198.51.100.7", "port": 5004, "at": now - 3600, "data": b"\xa5\x01"}
            | {"error": "expected 256 bytes, got 2", "path": "-> report -> counts -> 3 -> ts"}
        )
        for days, weight in enumerate(("53.00", "53.10", "52.90", "53.05")):
            at = now - 86400 * (5 - days)
            await store.commit_weighing(
                {"scale_id": "default", "cylinder_no": CYLINDER, "event_type": "SHIP", "gross_kg": Decimal(weight)}
                | {"raw_line": f"ST,+000{weight} kg", "received_at": at - 5, "committed_at": at, "tenant": TENANT}
                | {"arrival_shipping_no": None, "move_report_no": None}
            )


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("dashboard")
    store_url = f"sqlite:///{folder / 'dashboard.db'}"
    # in a thread of its own: Playwright's sync API keeps an event loop running in this one
    seeding = threading.Thread(target=asyncio.run, args=(_seed(store_url),))
    seeding.start()
    seeding.join()
    settings = {
        "store": {"url": store_url},
        "web": {"host": "127.0.0.1", "port": 0},
        "listeners": [
            {"device_type": "fg150kal", "port": 0, "host": "127.0.0.1"},
            {"device_type": "gas_meter", "port": 0, "host": "127.0.0.1"},
        ],
        "shutdown_grace": 2,
    }
    with serving_config(folder, settings) as (proc, output):
        text = "\n".join(output.until("  web ", STARTUP_TIMEOUT))
        ports = {kind: int(port) for kind, port in re.findall(r"listener (\w+) on 127\.0\.0\.1:(\d+)", text)}
        web = re.search(r"web (http://127\.0\.0\.1:\d+)/", text)
        assert web and {"fg150kal", "gas_meter"} <= set(ports), text
        yield Server(web.group(1), ports["fg150kal"], ports["gas_meter"], store_url, folder / "serve.yaml")
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        # a machine with only Python and pip runs the rest of the suite; CI installs Chromium and requires it
        missing = "the browser tests need Debian's chromium: apt-get install chromium fonts-nanum"
        if os.environ.get("SPECGATE_REQUIRE_BROWSER"):
            pytest.fail(missing)
        pytest.skip(missing)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    """A fresh browser context (no cookie, no stored language) on a tablet-sized window; any script error
    on the page fails the test."""
    context = browser.new_context(viewport={"width": 1024, "height": 1366}, base_url=server.url, locale="en-US")
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield opened
    context.close()
    # answers the pages handle (401 before the login, 404 from a scale with no reading yet) and a refused
    # live socket (the pages fall back to polling) are logged by Chromium; they are not script errors
    unexpected = [e for e in errors if not e.startswith("Failed to load resource") and "WebSocket connection" not in e]
    assert unexpected == [], unexpected
