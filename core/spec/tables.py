"""Lookup tables of a spec (``tables:``): entries by code or by code range, giving named attributes.

```yaml
tables:
  vif:
    entries:
      - {range: [0x00, 0x07], quantity: energy, unit: Wh, exponent: {start: -3, step: 1}}
      - {code: 0x6D, quantity: time_point, unit: "", kind: datetime}
    default: {quantity: unknown}        # optional: the entry of a code no entry covers
```

An expression reads an entry with ``lookup('vif', code)``: a mapping of the entry's attributes plus
``code``, or ``None`` for a code no entry covers (without ``default``). An attribute written
``{start: S, step: T}`` varies across a range: the entry of code ``c`` has ``S + (c - low) * T``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.spec.problems import Problem, join_pointer

#: a range entry is expanded into one entry per code up to this many codes
MAX_RANGE = 1 << 16


@dataclass
class Table:
    name: str
    entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    default: dict[str, Any] | None = None

    def get(self, code: Any) -> dict[str, Any] | None:
        try:
            entry = self.entries.get(code)
        except TypeError:  # an unhashable key is no code
            return None
        if entry is not None:
            return entry
        if self.default is not None and isinstance(code, int) and not isinstance(code, bool):
            return {**self.default, "code": code}
        return None


def _varying(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) <= {"start", "step"} and "start" in value


def _number(value: Any) -> int | Decimal:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return value
    return Decimal(str(value))


def build_tables(docs: Mapping[str, Any], file_problem: Any) -> tuple[dict[str, Table], list[Problem]]:
    """The tables of a spec's ``tables:`` section; ``file_problem(pointer, message)`` makes a Problem."""
    tables: dict[str, Table] = {}
    problems: list[Problem] = []
    for name, doc in (docs or {}).items():
        pointer = join_pointer("/tables", name)
        table = Table(name)
        owner: dict[int, str] = {}
        for index, entry in enumerate(doc.get("entries", [])):
            eptr = join_pointer(pointer, "entries", index)
            if ("code" in entry) == ("range" in entry):
                problems.append(file_problem(eptr, "an entry needs exactly one of 'code' or 'range'"))
                continue
            if "code" in entry:
                low = high = entry["code"]
            else:
                low, high = entry["range"]
                if high < low:
                    problems.append(file_problem(join_pointer(eptr, "range"), f"range {low}..{high} is empty"))
                    continue
                if high - low >= MAX_RANGE:
                    problems.append(
                        file_problem(join_pointer(eptr, "range"), f"a range covers at most {MAX_RANGE} codes")
                    )
                    continue
            attributes = {k: v for k, v in entry.items() if k not in ("code", "range")}
            bad = next((k for k, v in attributes.items() if _varying(v) and "code" in entry), None)
            if bad is not None:
                problems.append(
                    file_problem(
                        join_pointer(eptr, bad), "{start, step} varies across a range: use it on a 'range' entry"
                    )
                )
                continue
            clash = next((c for c in range(low, high + 1) if c in owner), None)
            if clash is not None:
                problems.append(
                    file_problem(
                        eptr, f"code {clash:#04x} is already covered by entry {owner[clash]} of table '{name}'"
                    )
                )
                continue
            for code in range(low, high + 1):
                owner[code] = str(index)
                values: dict[str, Any] = {}
                for key, value in attributes.items():
                    if _varying(value):
                        values[key] = _number(value["start"]) + (code - low) * _number(value.get("step", 1))
                    else:
                        values[key] = value
                values["code"] = code
                table.entries[code] = values
        if "default" in doc:
            table.default = dict(doc["default"])
        tables[name] = table
    return tables, problems
