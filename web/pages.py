"""The dashboard: ``GET /`` (the page shell) and ``GET /static/{path}`` (its scripts, styles and vendored
libraries from ``web/static/``, and the plugins' dashboard modules under ``/static/plugins/<name>/``).

Both are public: they hold code, never data; every page reads the JSON API as the logged-in user, which
decides what that user may see. The shell loads no inline script (the Content-Security-Policy of
:mod:`web.middleware` allows scripts from this site only); it names each plugin module in a ``<script>``
tag, whose ``data-label`` carries the module's navigation label by language.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pluggy
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from core.config import Config
from core.hookspecs import DashboardModule
from core.http import error_response
from core.routing import ApiRoute

STATIC = Path(__file__).with_name("static")
PLUGIN_PREFIX = "plugins/"
_MODULES_MARK = "<!-- dashboard modules -->"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_SCRIPT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,200}\.js$")
#: the shell and the scripts change with the server version; a browser checks back rather than guess
_REVALIDATE = {"cache-control": "no-cache"}


def dashboard_modules(config: Config, pm: pluggy.PluginManager) -> dict[str, DashboardModule]:
    """The plugins' dashboard modules by name; a bad one stops the app from being built, naming it."""
    modules: dict[str, DashboardModule] = {}
    for result in reversed(pm.hook.specgate_register_dashboard(config=config)):
        for module in result or []:
            if not isinstance(module, DashboardModule):
                raise TypeError(f"a dashboard module must be a core.api.DashboardModule, got {module!r}")
            if not _NAME.fullmatch(module.name):
                raise ValueError(f"dashboard module name {module.name!r} must be 1-63 of a-z, 0-9, _ and -")
            if not _SCRIPT.fullmatch(module.script) or ".." in module.script.split("/"):
                raise ValueError(
                    f"dashboard module {module.name}: script {module.script!r} must be a relative .js path"
                )
            if not (Path(module.directory) / module.script).is_file():
                raise ValueError(f"dashboard module {module.name}: {module.script} is not in {module.directory}")
            modules[module.name] = module  # a later plugin's module of the same name replaces an earlier one
    return modules


def render_shell(modules: dict[str, DashboardModule]) -> str:
    """``index.html`` with a module script tag per plugin module, in name order."""
    tags = []
    for name, module in sorted(modules.items()):
        src = html.escape(f"/static/{PLUGIN_PREFIX}{name}/{module.script}")
        label = html.escape(json.dumps(module.label, ensure_ascii=False))
        tags.append(
            f'<script type="module" src="{src}" data-module="{html.escape(name)}" data-label="{label}"></script>'
        )
    shell = (STATIC / "index.html").read_text(encoding="utf-8")
    return shell.replace(_MODULES_MARK, "\n    ".join(tags))


class Pages:
    """The two routes' handlers over one set of static directories."""

    def __init__(self, modules: dict[str, DashboardModule]) -> None:
        self.shell = render_shell(modules)
        self.core = StaticFiles(directory=STATIC)
        self.plugins = {name: StaticFiles(directory=module.directory) for name, module in modules.items()}

    async def index(self, request: Request, caller: object) -> Response:
        return HTMLResponse(self.shell, headers=_REVALIDATE)

    async def static(self, request: Request, caller: object) -> Response:
        path = request.path_params["path"]
        files = self.core
        if path.startswith(PLUGIN_PREFIX):
            name, _, path = path[len(PLUGIN_PREFIX) :].partition("/")
            found = self.plugins.get(name)
            if found is None:
                return _no_file(request)
            files = found
        try:
            response = await files.get_response(path, request.scope)
        except HTTPException as refused:
            if refused.status_code in (401, 404):  # 401: a file the server may not read; nobody learns which
                return _no_file(request)
            raise
        response.headers.update(_REVALIDATE)
        return response


def _no_file(request: Request) -> Response:
    return error_response(404, "not_found", f"no file {request.url.path}")


def routes(config: Config, pm: pluggy.PluginManager) -> list[ApiRoute]:
    pages = Pages(dashboard_modules(config, pm))
    return [
        ApiRoute(
            "/",
            pages.index,
            methods=["GET"],
            public=True,
            summary="The dashboard's page shell (HTML; its scripts read this API as the logged-in user)",
            tags=["dashboard"],
        ),
        ApiRoute(
            "/static/{path:path}",
            pages.static,
            methods=["GET"],
            public=True,
            summary="The dashboard's scripts, styles and vendored libraries, and the plugins' dashboard modules",
            tags=["dashboard"],
        ),
    ]
