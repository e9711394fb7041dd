"""The dashboard's routes without a browser: ``GET /`` (the page shell) and ``GET /static/...`` (core's files
and the plugins' dashboard modules): served to anyone, with the right content types and the strict
Content-Security-Policy, never a file outside the static folders, and a clear 404 for a missing one."""

from __future__ import annotations

import re

import pytest

from core.config import Config
from core.hookspecs import DashboardModule, hookimpl
from core.plugins import get_plugin_manager
from core.store import open_store
from tests.web.support import app_client
from web.app import create_app
from web.middleware import SECURITY_HEADERS
from web.pages import STATIC


@pytest.fixture
async def sqlite_store(tmp_path):
    async with open_store(f"sqlite:///{tmp_path / 'pages.db'}") as store:
        yield store


@pytest.fixture
async def client(sqlite_store):
    async with app_client(sqlite_store) as client:  # from an untrusted address, with no credentials
        yield client


async def test_the_shell_is_served_to_anyone_with_no_inline_script_and_the_plugin_modules(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == SECURITY_HEADERS["content-security-policy"]
    assert "script-src" not in response.headers["content-security-policy"]  # default-src 'self' covers scripts
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", response.text, re.S)
    assert scripts and all('src="/static/' in attrs and body.strip() == "" for attrs, body in scripts)
    assert '<script type="module" src="/static/js/app.js">' in response.text
    module = re.search(r'<script type="module" src="/static/plugins/fg150kal/station.js" ([^>]*)>', response.text)
    assert module is not None, response.text
    assert 'data-label="{&quot;eng&quot;: &quot;Weighing station&quot;' in module.group(1)
    assert "<!-- dashboard modules -->" not in response.text
    assert " style=" not in response.text  # the CSP allows no inline style either


@pytest.mark.parametrize(
    "path,content_type",
    [
        ("/static/js/app.js", "text/javascript"),
        ("/static/js/i18n.js", "text/javascript"),
        ("/static/css/app.css", "text/css"),
        ("/static/vendor/chart.umd.min.js", "text/javascript"),
        ("/static/plugins/fg150kal/station.js", "text/javascript"),
    ],
)
async def test_static_files_are_served_with_their_type_and_the_security_headers(client, path, content_type):
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == SECURITY_HEADERS["content-security-policy"]
    assert response.headers["cache-control"] == "no-cache"
    assert len(response.content) > 100


async def test_the_vendored_chart_library_comes_with_its_licence(client):
    licence = (STATIC / "vendor" / "chart.js-LICENSE.md").read_text()
    assert "The MIT License" in licence and "Chart.js Contributors" in licence
    readme = (STATIC / "vendor" / "README.md").read_text()
    assert "4.6.1" in readme and "MIT" in readme
    library = await client.get("/static/vendor/chart.umd.min.js")
    assert "Chart.js v4.6.1" in library.text[:300]


@pytest.mark.parametrize(
    "path",
    [
        "/static/%2e%2e/pages.py",
        "/static/..%2fpages.py",
        "/static/js/..%2f..%2fapp.py",
        "/static/%2e%2e/%2e%2e/core/api.py",
        "/static/plugins/fg150kal/%2e%2e/__init__.py",
        "/static/plugins/fg150kal/..%2f..%2f..%2fpyproject.toml",
        "/static/%2fetc%2fpasswd",
        "/static/plugins/..%2f..%2fweb%2fpages.py",
    ],
)
async def test_no_path_leaves_the_static_folders(client, path):
    response = await client.get(path)
    assert response.status_code == 404, (path, response.text[:200])
    assert response.json()["error"] == "not_found"
    assert "import" not in response.text


@pytest.mark.parametrize("path", ["/static/js/nothing.js", "/static/plugins/nobody/station.js", "/static/js/"])
async def test_a_missing_file_is_a_404_in_the_one_error_shape(client, path):
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "not_found", "message": f"no file {path}"}


async def test_only_get_and_head_are_served(client):
    assert (await client.head("/static/js/app.js")).status_code == 200
    assert (await client.post("/static/js/app.js", content=b"{}")).status_code == 405
    assert (await client.delete("/")).status_code == 405


class ExtraModule:
    def __init__(self, module: DashboardModule) -> None:
        self.module = module

    @hookimpl
    def specgate_register_dashboard(self, config):
        return [self.module]


def _plugins_with(module):
    pm = get_plugin_manager(enabled=None, disabled=[], installed=False)
    pm.register(ExtraModule(module), name="extra")
    return pm


async def test_a_plugin_module_is_loaded_by_the_shell_and_its_folder_served(sqlite_store, tmp_path):
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "acme.js").write_text("export const acme = 1;\n")
    (tmp_path / "secret.txt").write_text("not for the web")
    pm = _plugins_with(DashboardModule("acme", folder, "acme.js", {"eng": "ACME", "kor": "에이크미"}))
    found = pm.hook.specgate_register_dashboard(config=Config())
    assert {module.name for result in found for module in result} == {"fg150kal", "acme"}
    async with app_client(sqlite_store, pm=pm) as client:
        shell = (await client.get("/")).text
        assert 'src="/static/plugins/acme/acme.js" data-module="acme"' in shell
        assert "&quot;kor&quot;: &quot;에이크미&quot;" in shell
        served = await client.get("/static/plugins/acme/acme.js")
        assert served.status_code == 200 and served.text == "export const acme = 1;\n"
        assert (await client.get("/static/plugins/acme/%2e%2e/secret.txt")).status_code == 404


@pytest.mark.parametrize(
    "module,error",
    [
        (DashboardModule("Bad Name", STATIC, "js/app.js"), "must be 1-63 of a-z"),
        (DashboardModule("acme", STATIC, "../pages.py"), "must be a relative .js path"),
        (DashboardModule("acme", STATIC, "js/missing.js"), "js/missing.js is not in"),
        ({"name": "acme"}, "must be a core.api.DashboardModule"),
    ],
)
async def test_a_bad_dashboard_module_stops_the_app_from_being_built(sqlite_store, module, error):
    with pytest.raises((TypeError, ValueError), match=re.escape(error)):
        create_app(Config(), sqlite_store, _plugins_with(module))


def test_the_built_in_scale_plugin_contributes_the_weighing_station():
    pm = get_plugin_manager(enabled=None, disabled=[], installed=False)
    modules = [module for result in pm.hook.specgate_register_dashboard(config=Config()) for module in result]
    assert [module.name for module in modules] == ["fg150kal"]
    station = modules[0]
    assert (station.directory / station.script).is_file()
    assert set(station.label) == {"eng", "kor"}
