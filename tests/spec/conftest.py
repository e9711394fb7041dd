"""Helpers for the spec-language tests: inline specs written to tmp_path, and a construct round-trip check."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from core.spec import Spec, load_spec


@pytest.fixture
def make_spec(tmp_path: Path) -> Callable[..., Spec]:
    """Write YAML text (dedented) to a file and load it; ``check_examples`` as for ``load_spec``."""
    counter = iter(range(1000))

    def _make(text: str, check_examples: bool = True) -> Spec:
        path = tmp_path / f"spec{next(counter)}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return load_spec(path, check_examples=check_examples)

    return _make


@pytest.fixture
def spec_file(tmp_path: Path) -> Callable[[str], Path]:
    counter = iter(range(1000))

    def _write(text: str) -> Path:
        path = tmp_path / f"bad{next(counter)}.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write
