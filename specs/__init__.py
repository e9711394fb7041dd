"""The device specs bundled with specgate (YAML files beside this module)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled_spec_paths() -> list[Path]:
    """Paths of every ``*.yaml`` spec shipped in this package, sorted by name."""
    root = Path(str(files(__name__)))
    return sorted(root.glob("*.yaml"))
