"""The gas_meter device plugin."""
from __future__ import annotations

from pathlib import Path

from core.hookspecs import hookimpl
from specs import bundled_spec_paths


@hookimpl
def specgate_register_specs() -> list[Path]:
    return [p for p in bundled_spec_paths() if p.stem == "gas_meter"]
