"""The dashboard in Chromium against a real ``specgate serve``: keyboard login, a simulated scale settling on
the live panel, a commit seen in the log and in the cylinder's chart, a meter's usage chart after simulated
reports, a registration approved, a viewer kept out of administration, and every form field labelled.

Each page visited is kept as a screenshot in the artifacts folder (see ``conftest.py``)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from plugins.fg150kal.simulator import scale_stream
from tests.browser.support import CYLINDER, METER, TENANT, Server, screenshot
from tests.web.support import PASSWORD

pytestmark = pytest.mark.browser

#: labels and form controls: every control a user can fill has a <label> (or an aria-label)
UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea")]
    .filter((el) => !["hidden", "submit", "button"].includes(el.type))
    .filter((el) => el.labels.length === 0 && !el.getAttribute("aria-label"))
    .map((el) => el.name || el.outerHTML)"""
CHART_DATA = """(selector) => {
    const chart = Chart.getChart(document.querySelector(selector + " canvas"));
    return chart && {labels: chart.data.labels, data: chart.data.datasets[0].data,
                     colors: chart.data.datasets[0].pointBackgroundColor};
}"""


def log_in(page: Page, login: str) -> None:
    """The login form by keyboard alone: the ID field has the focus, Tab reaches the password, Enter sends."""
    page.goto("/")
    form = page.locator("form[aria-labelledby=login-title]")
    expect(form.get_by_label("Login ID")).to_be_focused()
    page.keyboard.type(login)
    page.keyboard.press("Tab")
    expect(form.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator("header#top")).to_be_visible()


def test_login_by_keyboard_in_the_accounts_language_and_a_wrong_password_is_refused(page: Page):
    page.goto("/")
    form = page.locator("form[aria-labelledby=login-title]")
    expect(form.get_by_label("Login ID")).to_be_visible()
    assert page.evaluate(UNLABELLED) == []  # the closed registration form's fields too
    screenshot(page, "login")
    form.get_by_label("Login ID").fill("kim")
    form.get_by_label("Password").fill("not the password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("not correct")
    log_in(page, "kim")  # kim's account language is Korean
    expect(page.locator("#nav")).to_contain_text("관리")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    screenshot(page, "station-korean")
    page.get_by_label("언어").select_option("eng")
    expect(page.locator("#nav")).to_contain_text("Administration")
    page.reload()  # the choice is remembered in this browser
    expect(page.locator("#nav")).to_contain_text("Weighing station")


def send_lines(conn: socket.socket, lines: list[str], pause: float) -> None:
    for line in lines:
        conn.sendall(f"{line}\r\n".encode("ascii"))
        time.sleep(pause)


def test_the_panel_shows_the_settled_weight_within_a_second_and_a_commit_reaches_the_log_and_chart(
    page: Page, server: Server
):
    log_in(page, "lee")
    panel = page.locator('.scale-panel[data-scale="default"]')
    expect(panel).to_be_visible()
    stream = scale_stream(lines=6, settle=4, seed=7, low=Decimal("70"), high=Decimal("80"))
    expected = f"{stream.last_stable:.2f}"
    *settling, last = stream.lines
    with socket.create_connection(("127.0.0.1", server.scale_port), timeout=5) as conn:
        send_lines(conn, settling[:-1], 0.15)  # the unstable lines: no stable weight is shown for them
        expect(panel.locator(".weight")).not_to_have_text(expected)
        send_lines(conn, [settling[-1], last], 0)
        sent = time.monotonic()
        expect(panel.locator(".weight")).to_have_text(expected, timeout=1000)
        shown_after = time.monotonic() - sent
        expect(panel).to_have_attribute("data-state", "stable")
        expect(panel.locator(".badge")).to_have_text("Stable")
        screenshot(page, "station-settled")

        # the commit form by keyboard: cylinder, Tab to the event (SHIP), Tab to the arrival number, Enter
        page.get_by_label("Cylinder number").focus()
        page.keyboard.type(CYLINDER)
        page.keyboard.press("Tab")
        expect(page.get_by_label("Event", exact=True).first).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.get_by_label("Arrival/shipping number")).to_be_focused()
        page.keyboard.type("AS-77")
        page.keyboard.press("Enter")
    assert shown_after < 1.0, f"the stable weight took {shown_after:.2f} s to show"
    committed = page.locator(".notice.committed")
    expect(committed).to_contain_text(f"{CYLINDER} SHIP {expected} kg")
    log = page.locator("section.log tbody tr").first
    expect(log).to_contain_text(CYLINDER)
    expect(log).to_contain_text(expected)
    expect(log).to_contain_text("AS-77")
    assert page.evaluate(UNLABELLED) == []

    page.get_by_label("Search", exact=True).fill("no-such-cylinder")
    page.keyboard.press("Enter")
    expect(page.locator("section.log")).to_contain_text("Nothing here yet.")
    page.get_by_label("Search", exact=True).fill("TEST-00")
    page.keyboard.press("Enter")
    page.locator("section.log tbody tr").first.get_by_role("button", name=CYLINDER).click()
    expect(page.locator("#history-chart canvas")).to_be_visible()
    with server.client("lee") as api:
        history = api.get(f"/api/v1/cylinders/{CYLINDER}/weighings").json()["items"]
    assert history[-1]["anomaly"] is True and history[0]["anomaly"] is False  # 70-80 kg against a 53 kg usual
    drawn = page.evaluate(CHART_DATA, "#history-chart")
    assert drawn["data"] == [float(item["gross_kg"]) for item in history]
    assert drawn["colors"][-1] != drawn["colors"][0]  # the anomaly is marked
    expect(page.locator("section.history table")).to_contain_text("Anomalies")
    screenshot(page, "station-history")


def test_a_meters_usage_chart_after_simulated_reports(page: Page, server: Server):
    simulated = subprocess.run(
        [sys.executable, "-m", "core", "simulate", "gas-meter", "--port", str(server.meter_port)]
        + ["--meters", "1", "--count", "8", "--uid-prefix", METER[:-1], "--seed", "3"]
        + ["--mix", "normal=60,event=40", "--faults", "garbage", "--fault-rate", "0.25"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr
    with server.client("kim") as api:
        usage = api.get(f"/api/v1/devices/{METER}/usage", params={"bucket": "day"}).json()
        readings = api.get(f"/api/v1/devices/{METER}/readings").json()
        events = api.get(f"/api/v1/devices/{METER}/events").json()
        dead_letters = api.get("/api/v1/dead-letters").json()
    assert usage["total_usage"] > 0 and readings["total"] >= 6
    assert events["total"] > 0 and dead_letters["total"] > 0, simulated.stdout
    log_in(page, "kim")
    page.get_by_label("언어").select_option("eng")
    page.get_by_role("link", name="Meters").click()
    fleet_row = page.locator("tbody tr", has_text=METER)
    expect(fleet_row).to_be_visible()
    expect(fleet_row.locator("a.events")).to_have_text(str(events["total"]))
    screenshot(page, "meters")
    fleet_row.get_by_role("link", name=METER).click()
    expect(page.locator("#daily-chart canvas")).to_be_visible()
    drawn = page.evaluate(CHART_DATA, "#daily-chart")
    assert drawn["labels"] == [item["label"] for item in usage["items"]]
    assert drawn["data"] == [item["usage"] for item in usage["items"]]
    assert page.evaluate(CHART_DATA, "#readings-chart")["data"] == sorted(r["count"] for r in readings["items"])
    expect(page.locator("#monthly-chart canvas")).to_be_visible()
    expect(page.locator("#main > .view > table tbody tr")).to_have_count(events["total"])
    expect(page.locator("#main > .view > table")).to_contain_text(events["items"][0]["event_type"])
    screenshot(page, "meter-device")
    page.get_by_role("link", name="Exchanges").click()
    expect(page.locator("tbody tr").first).to_contain_text(METER)
    expect(page.locator("dl.decoded").first).to_contain_text("message")
    screenshot(page, "exchanges")
    page.get_by_role("link", name="Dead letters").click()
    expect(page.get_by_role("heading", name="Dead letters")).to_be_visible()
    newest = dead_letters["items"][0]
    first = page.locator("tbody tr").first
    expect(first).to_contain_text(newest["error"])
    expect(first.locator("code.hex")).to_have_text(newest["data"])
    seeded = page.locator("tbody tr", has_text="198.51.100.7")  # one the store had already, with its path
    expect(seeded).to_contain_text("expected 256 bytes, got 2")
    expect(seeded.locator("code").first).to_have_text("-> report -> counts -> 3 -> ts")
    expect(seeded.locator("code.hex")).to_have_text("a501")
    screenshot(page, "dead-letters")


def test_a_registration_sent_from_the_login_page_is_approved_by_the_administrator(page: Page, server: Server):
    page.goto("/")
    page.get_by_text("Register").click()
    form = page.locator("details form")
    form.get_by_label("Login ID").fill("choi")
    form.get_by_label("Name").fill("Choi Minsu")
    form.get_by_label("E-mail").fill("choi@example.com")
    form.get_by_label("Organisation (tenant)").fill(TENANT)
    form.get_by_label("Password").fill("a long enough password")
    form.get_by_role("button", name="Send registration").click()
    expect(form.get_by_role("status")).to_contain_text("Registration sent")
    with httpx.Client(base_url=server.url) as anyone:  # a second one, sent by a script
        spam = {"ID": "spammer", "name": "S", "email": "s@example.com", "tenant": TENANT, "password": "x" * 12}
        assert anyone.post("/api/v1/registrations", json=spam).status_code == 201
    log_in(page, "kim")
    page.get_by_label("언어").select_option("eng")
    page.get_by_role("link", name="Administration").click()
    for section in ("users", "subscribers", "devices", "tokens"):
        page.goto(f"/#/admin/{section}")
        expect(page.locator("#main form").first).to_be_visible()
        assert page.evaluate(UNLABELLED) == [], section
        screenshot(page, f"admin-{section}")
    page.get_by_role("link", name="Pending registrations").click()
    row = page.locator("tbody tr", has_text="choi")
    expect(row).to_contain_text("choi@example.com")
    screenshot(page, "admin-registrations")
    row.get_by_role("button", name="Approve choi").click()
    expect(page.get_by_role("status").first).to_contain_text("Approved: choi")
    expect(page.locator("tbody tr", has_text="choi")).to_have_count(0)
    page.locator("tbody tr", has_text="spammer").get_by_role("button", name="Reject spammer").click()
    expect(page.get_by_role("status").first).to_contain_text("Rejected: spammer")
    expect(page.locator("#main")).to_contain_text("Nothing here yet.")
    with server.client("kim") as api:
        assert api.get("/api/v1/registrations").json()["total"] == 0
        assert api.get("/api/v1/users/spammer").status_code == 404
        user = api.get("/api/v1/users/choi")
    assert user.status_code == 200 and user.json()["user"]["flag"] is True
    with server.client("choi", "a long enough password") as api:  # the new account logs in
        assert api.get("/api/v1/me").json()["user"]["role"] == "viewer"


def test_a_viewer_sees_no_administration_and_the_server_refuses_it_anyway(page: Page):
    log_in(page, "park")
    nav = page.locator("#nav")
    expect(nav).to_contain_text("Meters")
    expect(nav).to_contain_text("Weighing station")
    for hidden in ("Administration", "Exchanges", "Dead letters"):
        expect(nav.get_by_role("link", name=hidden)).to_have_count(0)
    expect(page.locator("form.commit")).to_have_count(0)  # a viewer may read the log, not commit
    expect(page.locator(".scale-panel")).to_have_count(0)
    screenshot(page, "viewer-station")
    page.goto("/#/admin/users")
    expect(page.get_by_role("alert")).to_contain_text("not available to your role")
    status = page.evaluate("() => fetch('/api/v1/users', {credentials: 'same-origin'}).then((r) => r.status)")
    assert status == 403
    screenshot(page, "viewer-admin-refused")
    page.context.clear_cookies()  # the session ends (expired, or ended elsewhere)
    page.evaluate("() => { location.hash = '#/meters'; }")  # no reload: the page itself notices
    expect(page.locator("form[aria-labelledby=login-title]")).to_be_visible()
    expect(page.locator("header#top")).to_be_hidden()


def test_the_panel_follows_the_live_socket_and_falls_back_to_polling_when_it_closes(page: Page):
    """The live protocol (``/api/v1/live``) played by a stand-in socket: hello, the subscription to the
    shown scale, unstable, stable and overload lines, the stale warning, and polling after a close."""
    received: list[dict] = []
    sockets: list[WebSocketRoute] = []

    def live(socket: WebSocketRoute) -> None:
        sockets.append(socket)
        socket.on_message(lambda message: received.append(json.loads(message)))
        hello = {"type": "hello", "login_id": "lee", "tenant": TENANT, "role": "operator", "system_admin": False}
        socket.send(json.dumps(hello))

    page.route_web_socket(re.compile(r"/api/v1/live$"), live)
    log_in(page, "lee")
    badge = page.locator(".badge.mode")
    expect(badge).to_have_attribute("data-mode", "live")
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert received == [{"type": "subscribe", "topics": ["scale:default"]}]

    panel = page.locator('.scale-panel[data-scale="default"]')
    weight = panel.locator(".weight")

    def line(status: str, value: float | None, **extra) -> None:
        message = {"type": "scale", "scale_id": "default", "status": status, "weight": value, "unit": "kg"}
        sockets[-1].send(json.dumps(message | {"stable": status == "ST", "at": "2026-01-05T09:00:00Z"} | extra))

    line("US", 12.5)
    expect(weight).to_have_text("12.50")
    expect(panel).to_have_attribute("data-state", "unstable")
    line("ST", 13.75)
    expect(weight).to_have_text("13.75")
    expect(panel).to_have_attribute("data-state", "stable")
    line("ST", 99.0, scale_id="another")  # a scale not shown here changes nothing
    line("OL", None, unit=None)
    expect(weight).to_have_text("OVERLOAD")
    expect(panel).to_have_attribute("data-state", "overload")
    stale = panel.get_by_role("alert")
    expect(stale).to_be_hidden()
    expect(stale).to_be_visible(timeout=8000)  # no line for 5 seconds
    expect(stale).to_contain_text("No reading from the scale")
    screenshot(page, "station-live-overload-stale")

    sockets[-1].close()
    expect(badge).to_have_attribute("data-mode", "polling")
    expect(badge).to_have_attribute("data-mode", "live", timeout=5000)  # the socket is tried again
    assert len(sockets) == 2


def test_administration_imports_subscribers_releases_and_binds_a_device_and_creates_a_token(page: Page, server: Server):
    log_in(page, "kim")
    page.get_by_label("언어").select_option("eng")
    page.goto("/#/admin/subscribers")
    csv = "customer_no,customer_name,meter_id\nC1001,Han Mira,M-1001\nC1001,Again,M-1002\n,Nobody,M-1003\n"
    page.get_by_label("CSV file of subscribers (header row)").set_input_files(
        files=[{"name": "subscribers.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    page.get_by_role("button", name="Import").click()
    report = page.locator("form .notice.ok")
    expect(report).to_contain_text("Imported 1, duplicated 1, failed 1")
    rows = report.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("created")
    expect(rows.nth(1)).to_contain_text("duplicated")
    expect(rows.nth(2)).to_contain_text("failed")
    screenshot(page, "admin-subscribers-imported")

    page.get_by_role("link", name="Device release and binding").click()
    page.get_by_label("Device UIDs (one per line)").fill("AB000001\nAB000001")
    page.get_by_label("Installer login ID").fill("kim")
    page.get_by_role("button", name="Release").click()
    expect(page.locator("form .notice.ok").first).to_contain_text("added: AB000001; duplicates: AB000001")
    page.get_by_label("Subscriber customer number").fill("C1001")
    page.get_by_label("Device UID", exact=True).fill("AB000001")
    page.get_by_role("button", name="Bind", exact=True).click()
    expect(page.locator("form .notice.ok").nth(1)).to_contain_text("C1001: AB000001")
    with server.client("kim") as api:
        assert api.get("/api/v1/subscribers/C1001").json()["subscriber"]["bind_device_id"] == "AB000001"
    page.get_by_role("button", name="Unbind").click()
    expect(page.locator("form .notice.ok").nth(1)).to_contain_text("C1001: -")
    with server.client("kim") as api:
        assert api.get("/api/v1/subscribers/C1001").json()["subscriber"]["binded"] is False

    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Token name").fill("ci-reader")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("form .notice.ok code")
    expect(secret).to_contain_text("sgt_")
    token = secret.inner_text().rsplit(" ", 1)[-1]
    with server.client("kim") as api:
        me = api.get("/api/v1/devices", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200  # the new token reads with its scope
    screenshot(page, "admin-token-created")


def test_the_weighing_station_fits_a_tablet_and_works_from_the_keyboard(page: Page):
    page.set_viewport_size({"width": 768, "height": 1024})
    log_in(page, "lee")
    expect(page.locator(".scale-panel")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    weight_size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('.weight')).fontSize)")
    assert weight_size >= 48  # readable from a step away
    for control in ("Cylinder number", "Arrival/shipping number"):
        assert page.get_by_label(control).bounding_box()["height"] >= 44  # a finger's touch target
    assert page.get_by_role("button", name="Commit weighing").bounding_box()["height"] >= 44
    # from the top of the page: the skip link first, then the navigation in order
    page.reload()
    expect(page.locator(".scale-panel")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Weighing station")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Meters")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Meter fleet")).to_be_visible()
    expect(page.locator("main")).to_be_focused()  # the new page's content, where Tab goes on from
    page.keyboard.press("Tab")
    expect(page.get_by_label("Search", exact=True)).to_be_focused()
    screenshot(page, "meters-tablet")
