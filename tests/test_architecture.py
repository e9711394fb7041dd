"""The boundaries the layout promises, checked on the source: core names no device type, plugins import
specgate only through ``core.api``, and the lower layers never import the ones built on them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEVICE_NAMES = ("fg150kal", "gas_meter", "SCALE_GATEWAY")


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (they may name device types)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.add(id(first.value))
    return found


def names_in_code(source: str) -> list[tuple[int, str]]:
    """(line, text) of every identifier and non-docstring string in ``source``; comments are not code."""
    tree = ast.parse(source)
    docstrings = docstring_nodes(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.Name):
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            found.append((node.lineno, node.attr))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node.lineno, node.name))
        elif isinstance(node, ast.arg):
            found.append((node.lineno, node.arg))
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.alias):
            found.append((getattr(node, "lineno", 0), node.name))
    return found


def device_names(source: str) -> list[str]:
    return [f"{line}: {text!r}" for line, text in names_in_code(source) if any(n in text for n in DEVICE_NAMES)]


def imported_modules(source: str) -> list[str]:
    """Every module an ``import`` anywhere in ``source`` names (lazy imports inside functions included)."""
    modules = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
    return modules


def test_the_checks_see_code_and_not_comments_or_docstrings():
    source = '"""fg150kal in a docstring"""\n# gas_meter in a comment\ndef f():\n    """gas_meter"""\n    return 1\n'
    assert device_names(source) == []
    assert device_names('x = config.devices["fg150kal"]\n') == ["1: 'fg150kal'"]
    assert device_names("from core.simulate.gas_meter import run\n") == ["1: 'core.simulate.gas_meter'"]
    assert imported_modules("def f():\n    from core.cli import main\n") == ["core.cli"]


@pytest.mark.parametrize("path", python_files("core", "web"), ids=relative)
def test_core_and_web_name_no_device_type(path):
    assert device_names(path.read_text()) == [], f"{relative(path)} names a device type; it belongs to its plugin"


PLUGIN_SOURCES = python_files("plugins", "examples/nmea_gps/specgate_nmea_gps") + [
    ROOT / "tests" / "gateway" / "thirdparty_plugin.py"
]


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=relative)
def test_plugins_import_specgate_only_through_the_plugin_api(path):
    wrong = [
        module
        for module in imported_modules(path.read_text())
        if (module in ("core", "specs") or module.startswith(("core.", "web", "specs."))) and module != "core.api"
    ]
    assert wrong == [], f"{relative(path)} imports {wrong}; plugins import specgate only through core.api"


def test_the_plugin_guide_imports_only_the_plugin_api():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    code = "\n".join(block.split("\n", 1)[1] for block in guide.split("```python")[1:])
    assert "from core.api import" in code
    wrong = [
        line.strip()
        for line in code.splitlines()
        if line.strip().startswith(("from core", "import core")) and not line.strip().startswith("from core.api ")
    ]
    assert wrong == []


# A module of the left folder may not import a module of the right one (directly or lazily).
FORBIDDEN = [
    ("core/spec", ("core.plugins", "core.gateway", "core.cli", "core.store", "core.config", "core.app", "web")),
    ("core/store", ("core.plugins", "core.gateway", "core.cli", "core.config", "core.spec", "core.app", "web")),
    ("core/config", ("core.gateway", "core.cli", "core.app", "web")),
    ("core/gateway", ("core.cli", "core.app", "web")),
    ("core/http.py", ("core.cli", "core.gateway", "core.app", "web")),
    ("core/plugins.py", ("core.cli", "core.gateway", "core.app", "web")),
    ("core/security", ("core.cli", "core.gateway", "core.app", "core.plugins", "core.spec", "web")),
    ("core/routing.py", ("core.cli", "core.gateway", "core.app", "web")),
    ("web", ("core.cli", "core.app")),
    # base.py builds on these three; they must not import it back
    ("core/store/usage.py", ("core.store.base", "core.store.sqlite", "core.store.mongo")),
    ("core/store/listings.py", ("core.store.base", "core.store.sqlite", "core.store.mongo")),
    ("core/store/validation.py", ("core.store.base", "core.store.sqlite", "core.store.mongo")),
]


@pytest.mark.parametrize("folder,forbidden", FORBIDDEN, ids=[folder for folder, _ in FORBIDDEN])
def test_lower_layers_do_not_import_upper_ones(folder, forbidden):
    target = ROOT / folder
    paths = [target] if target.is_file() else sorted(target.rglob("*.py"))
    wrong = [
        f"{relative(path)} imports {module}"
        for path in paths
        for module in imported_modules(path.read_text())
        if any(module == name or module.startswith(name + ".") for name in forbidden)
    ]
    assert wrong == []


def wall_clock_calls(source: str) -> list[str]:
    """Calls that read the wall clock: ``time.time()``, ``datetime.now()``, ``datetime.utcnow()``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if (name, node.func.attr) in (("time", "time"), ("datetime", "now"), ("datetime", "utcnow")):
                found.append(f"{node.lineno}: {name}.{node.func.attr}()")
    return found


# a simulator plays the device, whose clock is its own
RUNTIME_PLUGIN_SOURCES = [path for path in python_files("plugins") if path.name != "simulator.py"]


@pytest.mark.parametrize("path", RUNTIME_PLUGIN_SOURCES, ids=relative)
def test_plugins_take_time_from_the_session_clock(path):
    assert wall_clock_calls(path.read_text()) == [], f"{relative(path)} reads the wall clock; use session.now()"


def test_the_clock_check_sees_wall_clock_calls():
    assert wall_clock_calls("import time\nx = time.time()\n") == ["2: time.time()"]
    assert wall_clock_calls("from datetime import datetime\nd = datetime.now(tz)\n") == ["2: datetime.now()"]
    assert wall_clock_calls("x = session.now()\n") == []
