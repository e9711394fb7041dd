"""Helpers shared by the spec-language tests (imported by name: this folder is on sys.path under pytest)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from core.spec import Spec

SPECS_DIR = Path(__file__).resolve().parents[2] / "specs"


def binary_spec(fields: str, types: str = "", endian: str = "big", extra: str = "", direction: str = "uplink") -> str:
    """A one-message spec around some field lines (each a YAML list item, no indentation)."""
    field_block = textwrap.indent(textwrap.dedent(fields).strip(), " " * 6)
    types_block = ("types:\n" + textwrap.indent(textwrap.dedent(types).strip(), "  ") + "\n") if types else ""
    return (
        f"meta: {{name: t, endian: {endian}}}\n"
        "framing: {length_field: {offset: 0, type: u8, max_length: 255}}\n"
        f"{types_block}{extra}"
        "messages:\n"
        "  m:\n"
        f"    direction: {direction}\n"
        "    fields:\n"
        f"{field_block}\n"
    )


def round_trip(spec: Spec, message: str, frame: bytes) -> Any:
    """Parse, build and sizeof through the plain and the compiled struct (construct's ``common`` helper)."""
    structs = spec.structs[message]
    results = []
    for construct_ in (structs.plain, structs.compiled):
        assert construct_ is not None
        parsed = spec.parse_with(message, frame, "plain" if construct_ is structs.plain else "compiled")
        built = spec.encode(message, parsed.values)
        assert built == frame
        size = spec.messages[message].size
        if size is not None:
            assert construct_.sizeof() == size == len(frame)
        results.append(parsed)
    assert results[0].values == results[1].values and results[0].flags == results[1].flags
    if structs.fast is not None:
        generated = structs.fast(frame)
        if generated is None:  # a variable layout's fast path leaves frames with findings to construct
            assert results[0].flags and structs.fast_keys is not None
        else:
            assert generated == (results[0].values, results[0].flags)
    if structs.fast_build is not None:  # the generated builder gives the construct struct's bytes
        assert spec.build_with(message, results[0].values, "fast") == frame
        assert spec.build_with(message, results[0].values, "plain") == frame
    return results[0]
