"""User management in Chromium against a real ``specgate serve``: an administrator edits a user's role,
disables and enables the account and sets its password, and the user's open sessions end each time (its
page returns to the login, its API session is refused)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.support import Server, screenshot
from tests.browser.test_dashboard import UNLABELLED
from tests.web.support import PASSWORD

pytestmark = pytest.mark.browser

LOGIN = "yoon"
NEW_PASSWORD = "a brand new passphrase"


def sign_in(page: Page, login: str, password: str = PASSWORD) -> None:
    page.goto("/")
    form = page.locator("form[aria-labelledby=login-title]")
    form.get_by_label("Login ID").fill(login)
    form.get_by_label("Password").fill(password)
    page.keyboard.press("Enter")
    # logged in, or told why not
    expect(page.locator("header#top:not([hidden]), [role=alert]").first).to_be_visible()


def api_session(server: Server, password: str = PASSWORD) -> httpx.Client:
    """A bearer session of the user, as a script would hold one."""
    client = httpx.Client(base_url=server.url, timeout=10)
    answer = client.post("/api/v1/session", json={"login": LOGIN, "password": password})
    assert answer.status_code == 200, answer.text
    client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    return client


def expect_signed_out(user_page: Page) -> None:
    """The user's page notices on its next request that its session ended: back to the login form."""
    user_page.evaluate("() => { location.hash = location.hash === '#/meters' ? '#/station' : '#/meters'; }")
    expect(user_page.locator("form[aria-labelledby=login-title]")).to_be_visible()
    expect(user_page.locator("header#top")).to_be_hidden()


def row(page: Page, login: str):
    return page.locator("table tbody tr").filter(has=page.get_by_role("cell", name=login, exact=True))


def test_an_administrator_changes_a_role_disables_enables_and_sets_a_password(
    page: Page, browser: Browser, server: Server
):
    with server.client("kim") as admin:
        created = admin.post(
            "/api/v1/users",
            json={"ID": LOGIN, "name": "Yoon Jiho", "email": "yoon@example.com", "role": "operator"}
            | {"lang": "eng", "password": PASSWORD},
        )
        assert created.status_code == 201, created.text
    user_context = browser.new_context(viewport={"width": 1024, "height": 1366}, base_url=server.url, locale="en-US")
    user_page = user_context.new_page()
    scripts: list[httpx.Client] = []
    try:
        sign_in(user_page, LOGIN)
        expect(user_page.locator("header#top")).to_be_visible()
        scripts.append(script := api_session(server))
        assert script.get("/api/v1/scales").status_code == 200  # an operator's route

        sign_in(page, "kim")  # kim's account language is Korean
        page.goto("/#/admin/users")
        expect(page.get_by_role("button", name=f"{LOGIN} 수정")).to_be_visible()
        page.locator("#language").select_option("eng")
        page.goto("/#/admin/users")

        # the role: the edit form holds the user's fields, labelled
        page.get_by_role("button", name=f"Edit {LOGIN}").click()
        editor = page.get_by_role("group", name=f"Edit {LOGIN}")
        expect(editor.get_by_label("Name")).to_have_value("Yoon Jiho")
        expect(editor.get_by_label("E-mail")).to_have_value("yoon@example.com")
        expect(editor.get_by_label("Role")).to_have_value("operator")
        assert page.evaluate(UNLABELLED) == []
        screenshot(page, "admin-user-edit")
        editor.get_by_label("Role").select_option("viewer")
        editor.get_by_label("Name").fill("Yoon Jiho (audit)")
        editor.get_by_role("button", name="Save").click()
        expect(page.get_by_role("status").filter(has_text=f"Saved: {LOGIN}")).to_be_visible()
        expect(row(page, LOGIN)).to_contain_text("viewer")
        expect(row(page, LOGIN)).to_contain_text("Yoon Jiho (audit)")
        # a new role ends every session of the user: the script's and the page's
        assert script.get("/api/v1/scales").status_code == 401
        expect_signed_out(user_page)
        with server.client("kim") as admin:
            stored = admin.get(f"/api/v1/users/{LOGIN}").json()["user"]
        assert (stored["role"], stored["name"], stored["flag"]) == ("viewer", "Yoon Jiho (audit)", True)

        # disabled: signed out again, and refused at the login
        sign_in(user_page, LOGIN)
        expect(user_page.locator("header#top")).to_be_visible()
        scripts.append(script := api_session(server))
        page.get_by_role("button", name=f"Disable {LOGIN}").click()
        expect(page.get_by_role("status").filter(has_text=f"Disabled: {LOGIN}")).to_be_visible()
        expect(row(page, LOGIN).get_by_role("cell", name="no", exact=True)).to_be_visible()
        assert script.get("/api/v1/weighings").status_code == 401
        expect_signed_out(user_page)
        sign_in(user_page, LOGIN)
        expect(user_page.get_by_role("alert")).to_contain_text("not correct")
        screenshot(page, "admin-user-disabled")

        # enabled again, with a new password that the administrator sets
        page.get_by_role("button", name=f"Enable {LOGIN}").click()
        expect(page.get_by_role("status").filter(has_text=f"Enabled: {LOGIN}")).to_be_visible()
        expect(row(page, LOGIN).get_by_role("cell", name="yes", exact=True)).to_be_visible()
        sign_in(user_page, LOGIN)
        expect(user_page.locator("header#top")).to_be_visible()
        page.get_by_role("button", name=f"Edit {LOGIN}").click()
        editor = page.get_by_role("group", name=f"Edit {LOGIN}")
        editor.get_by_label("New password").fill(NEW_PASSWORD)
        editor.get_by_role("button", name="Set password").click()
        expect(editor.get_by_role("status")).to_contain_text(f"Password of {LOGIN} set")
        expect_signed_out(user_page)
        sign_in(user_page, LOGIN)  # the old password no longer works
        expect(user_page.get_by_role("alert")).to_contain_text("not correct")
        sign_in(user_page, LOGIN, NEW_PASSWORD)
        expect(user_page.locator("header#top")).to_be_visible()
        scripts.append(script := api_session(server, NEW_PASSWORD))
        assert script.get("/api/v1/weighings").status_code == 200
    finally:
        for opened in scripts:
            opened.close()
        user_context.close()


def test_an_administrator_cannot_disable_or_demote_itself_and_is_told_why(page: Page):
    sign_in(page, "kim")
    page.locator("#language").select_option("eng")
    page.goto("/#/admin/users")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    page.get_by_role("button", name="Disable kim").click()
    expect(page.get_by_role("alert")).to_contain_text("cannot disable your own account")
    page.get_by_role("button", name="Edit kim").click()
    editor = page.get_by_role("group", name="Edit kim")
    editor.get_by_label("Role").select_option("operator")
    editor.get_by_role("button", name="Save").click()
    expect(editor.get_by_role("alert")).to_contain_text("cannot demote or disable your own account")
    expect(row(page, "kim").get_by_role("cell", name="admin", exact=True)).to_be_visible()
    expect(row(page, "kim").get_by_role("cell", name="yes", exact=True)).to_be_visible()
