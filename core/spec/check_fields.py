"""Semantic checks of binary fields: each ``field_<kind>`` method fills a ``FieldModel`` from its YAML mapping."""

from __future__ import annotations

import re
from decimal import InvalidOperation
from typing import Any

from core.spec import expr as ex
from core.spec.check_composite import CompositeChecks
from core.spec.checksums import Crc
from core.spec.problems import Problem, join_pointer
from core.spec.schema_check import did_you_mean, int_range, to_decimal
from core.spec.types import (
    COMMON_KEYS,
    FLOAT_TYPES,
    INT_TYPES,
    PRIMITIVE_NAMES,
    TYPE_KEYS,
    BitModel,
    FieldModel,
    StructModel,
)

#: (expression, pointer, index of the field in its struct, names it may use besides earlier fields)
PendingExpr = tuple[ex.Expr, str, int, frozenset[str]]


class FieldChecks(CompositeChecks):
    """The field checks of ``ModelBuilder`` (which provides the state they use)."""

    endian: str
    reserved_check: bool
    enums: dict[str, dict[str, int]]
    type_docs: dict[str, Any]
    raw_cases: dict[int, dict[Any, tuple[StructModel, str]]]
    problems: list[Problem]
    crcs: dict[str, Crc]
    pending: list[list[PendingExpr]]
    field_index: int
    all_exprs: list[ex.Expr]

    def expression(self, text: Any, pointer: str, extra: frozenset[str] = frozenset()) -> ex.Expr | None:
        """Parse an expression, report its problem, and queue its names for checking against the struct."""
        parsed, problem = ex.parse(text)
        if parsed is None:
            self.problem(pointer, problem or "invalid expression")
            return None
        if self.pending:
            self.pending[-1].append((parsed, pointer, self.field_index, extra))
        self.all_exprs.append(parsed)
        return parsed

    def problem(self, pointer: str, message: str, prefer_key: bool = False) -> None:
        raise NotImplementedError

    def struct_type(self, name: str, pointer: str) -> StructModel | None:
        raise NotImplementedError

    # ------------------------------------------------------------------ fields

    def type_choices(self) -> str:
        return ", ".join(list(PRIMITIVE_NAMES) + sorted(self.type_docs))

    def field(
        self,
        doc: dict[str, Any],
        pointer: str,
        earlier: list[FieldModel],
        top_level: bool,
        index: int,
        element: bool = False,
        type_pointer: str | None = None,
    ) -> FieldModel | None:
        type_name = doc.get("type")
        if type_name in INT_TYPES:
            kind = "int"
        elif type_name in FLOAT_TYPES:
            kind = "float"
        elif type_name in TYPE_KEYS and type_name != "struct":
            kind = type_name
        elif type_name in self.type_docs:
            kind = "struct"
        else:
            # suggest only the spec's own type names: a near-miss of a primitive ('u17') lists them already
            self.problem(
                type_pointer or join_pointer(pointer, "type"),
                f"expected one of {self.type_choices()}, got {type_name!r}{did_you_mean(str(type_name), sorted(self.type_docs))}",
            )
            return None
        allowed = set(TYPE_KEYS[kind if kind not in ("int", "float") else type_name]) | COMMON_KEYS
        ok = True
        for key in doc:
            if key not in allowed:
                ok = False
                self.problem(
                    join_pointer(pointer, key),
                    f"key '{key}' is not allowed for type {type_name}; allowed keys: {', '.join(sorted(allowed))}{did_you_mean(key, sorted(allowed))}",
                    prefer_key=True,
                )
        if not ok:
            return None
        name = doc.get("name")
        if name is None:
            if element:
                name = "item"
            elif kind in ("reserved", "checksum"):
                name = f"_{kind}{index}"
            else:
                self.problem(pointer, "missing required key 'name'")
                return None
        f = FieldModel(
            name=name, kind=kind, pointer=pointer, type_name=type_name, endian=doc.get("endian", self.endian)
        )
        if "default" in doc:
            f.default, f.has_default = doc["default"], True
        if "if" in doc:
            f.condition = self.expression(doc["if"], join_pointer(pointer, "if"))
            if f.condition is None:
                return None
        method = getattr(self, f"field_{kind}")
        if method(f, doc) is False:
            return None
        if "show" in doc and f.kind == "computed":
            f.hidden = not doc["show"]  # a computed step of a longer computation, not a value of its own
        elif doc.get("show") is not None:
            if not doc["show"] or not f.hidden or f.kind in ("checksum", "reserved"):
                self.problem(
                    join_pointer(pointer, "show"),
                    "show: true makes a constant or computed-on-build field visible; show: false hides a computed one",
                )
                return None
            f.shown = True
        if kind == "checksum" and (not top_level or element):
            self.problem(pointer, "a checksum field must be a top-level field of a message")
        return f

    def sized(self, f: FieldModel, doc: dict[str, Any], what: str = "size") -> bool:
        given = [k for k in ("size", "size_from", "until") if k in doc]
        if len(given) > 1:
            self.problem(f.pointer, f"use only one of size, size_from, until; got {', '.join(given)}")
            return False
        if "size" in doc and isinstance(doc["size"], str):
            f.size_expr = self.expression(doc["size"], join_pointer(f.pointer, "size"))
            if f.size_expr is None:
                return False
        elif "size" in doc:
            f.size = doc["size"]
        elif "size_from" in doc:
            f.size_from = doc["size_from"]
        elif "until" in doc:
            if doc["until"] != "end":
                self.problem(
                    join_pointer(f.pointer, "until"), f"{f.type_name} is read until: end, got {doc['until']!r}"
                )
                return False
            f.until_end = True
        elif f.kind in ("bytes", "string", "reserved", "bcd"):
            self.problem(
                f.pointer,
                f"{f.type_name} needs one of size, size_from, until"
                if f.kind in ("bytes", "string")
                else f"{f.type_name} needs a size",
            )
            return False
        return True

    def resolve_enum(
        self, value: Any, pointer: str, width: int, signed: bool, type_name: str
    ) -> tuple[dict[str, int] | None, str]:
        if isinstance(value, str):
            if value not in self.enums:
                known = sorted(self.enums)
                self.problem(
                    pointer,
                    f"unknown enum '{value}'; enums: {', '.join(known) or '(none)'}{did_you_mean(value, known)}",
                )
                return None, value
            table, name = self.enums[value], value
            base = f"/enums/{value}"
        else:
            table, name = value, ""
            base = pointer
        lo, hi = int_range(width, signed)
        seen: dict[int, str] = {}
        for label, number in table.items():
            if not lo <= number <= hi:
                self.problem(
                    join_pointer(base, label), f"enum value {label}={number} does not fit {type_name} ({lo}..{hi})"
                )
            if number in seen:
                self.problem(
                    join_pointer(base, label), f"enum value {number} is used by both '{seen[number]}' and '{label}'"
                )
            seen[number] = label
        return dict(table), name

    def field_int(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        f.size, f.signed = INT_TYPES[f.type_name]
        lo, hi = int_range(f.size, f.signed)
        if "enum" in doc:
            f.enum, f.enum_name = self.resolve_enum(
                doc["enum"], join_pointer(f.pointer, "enum"), f.size, f.signed, f.type_name
            )
            f.enum_name = f.enum_name or f.name
        if "const" in doc:
            const = doc["const"]
            if not isinstance(const, int) or isinstance(const, bool) or not lo <= const <= hi:
                self.problem(
                    join_pointer(f.pointer, "const"), f"const {const!r} does not fit {f.type_name} ({lo}..{hi})"
                )
                return False
            f.const, f.hidden = const, True
        for key in ("scale", "offset"):
            if key in doc:
                try:
                    setattr(f, key, to_decimal(doc[key]))
                except InvalidOperation:
                    self.problem(join_pointer(f.pointer, key), f"{key} must be a number, got {doc[key]!r}")
                    return False
        if f.scale is not None and f.scale == 0:
            self.problem(join_pointer(f.pointer, "scale"), "scale must not be 0")
            return False
        if (f.scale is not None or f.offset is not None) and f.enum:
            self.problem(f.pointer, "a field cannot have both an enum and a scale/offset")
            return False
        f.unit = doc.get("unit")
        f.length_of = doc.get("length_of")
        f.adjust = doc.get("adjust", 0)
        if "adjust" in doc and not f.length_of:
            self.problem(join_pointer(f.pointer, "adjust"), "adjust is only meaningful with length_of")
        if "equals" in doc:
            if f.const is not None or f.length_of or f.enum or f.scale is not None or f.offset is not None:
                self.problem(join_pointer(f.pointer, "equals"), "equals is for a plain integer field")
                return False
            f.equals = self.expression(doc["equals"], join_pointer(f.pointer, "equals"))
            if f.equals is None:
                return False
            f.hidden = True
        return True

    def field_float(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        f.size = FLOAT_TYPES[f.type_name]
        f.unit = doc.get("unit")
        return True

    def field_bytes(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        if not self.sized(f, doc):
            return False
        if "const" in doc:
            const = doc["const"]
            try:
                raw = bytes.fromhex(str(const).replace(" ", ""))
            except ValueError:
                self.problem(join_pointer(f.pointer, "const"), f"const of a bytes field must be hex, got {const!r}")
                return False
            if f.size is None or len(raw) != f.size:
                self.problem(
                    join_pointer(f.pointer, "const"), f"const is {len(raw)} bytes, the field is {f.size} bytes"
                )
                return False
            f.const, f.hidden = raw, True
        f.reverse = bool(doc.get("reverse", False))
        if "process" in doc:
            return self.process(f, doc["process"])
        return True

    def field_string(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        if not self.sized(f, doc):
            return False
        f.pad = doc.get("pad", "\x00")
        f.align = doc.get("align", "left")
        f.encoding = "latin-1" if doc.get("encoding") == "latin1" else "ascii"
        if not f.pad.isascii():
            self.problem(join_pointer(f.pointer, "pad"), f"pad must be an ASCII character, got {f.pad!r}")
            return False
        if "pattern" in doc:
            try:
                re.compile(doc["pattern"])
            except re.error as exc:
                self.problem(join_pointer(f.pointer, "pattern"), f"invalid regular expression: {exc}")
                return False
            f.pattern = doc["pattern"]
        if "const" in doc:
            const = str(doc["const"])
            if not const.isascii() or (f.size is not None and len(const) > f.size):
                self.problem(
                    join_pointer(f.pointer, "const"), f"const {const!r} must be ASCII and at most {f.size} characters"
                )
                return False
            f.const, f.hidden = const, True
        f.reverse = bool(doc.get("reverse", False))
        return True

    def field_bcd(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        if not self.sized(f, doc) or (f.size is None and f.size_expr is None):
            if f.size is None and f.size_expr is None and not self.problems:
                self.problem(f.pointer, "bcd needs a size")
            return False
        sign = doc.get("sign")
        if sign is not None and "signed" in doc:
            self.problem(join_pointer(f.pointer, "sign"), "use one of sign and signed")
            return False
        if sign is None:
            sign = "trailing" if doc.get("signed", False) else "none"
        f.endian = doc.get("endian", "big")  # BCD digits are written high first unless the field says otherwise
        f.bcd_sign = None if sign == "none" else sign
        f.bcd_signed = sign == "trailing"
        f.bcd_invalid = doc.get("invalid", "error")
        f.bcd_text = bool(doc.get("text", False))
        f.decimals = doc.get("decimals")
        f.unit = doc.get("unit")
        if f.size is None:
            return True
        digits = f.size * 2 - (1 if f.bcd_signed else 0)
        if f.decimals is not None and f.decimals > digits:
            self.problem(
                join_pointer(f.pointer, "decimals"), f"decimals {f.decimals} exceeds the {digits} digits of the field"
            )
            return False
        return True

    def field_ipv4(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        f.size = 4
        return True

    def field_reserved(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        if "size" not in doc:
            self.problem(f.pointer, "reserved needs a size")
            return False
        f.size = doc["size"]
        f.fill = doc.get("fill", 0)
        if not 0 <= f.fill <= 255:
            self.problem(join_pointer(f.pointer, "fill"), f"fill must be a byte value 0..255, got {f.fill}")
            return False
        f.check = doc.get("check", self.reserved_check)
        f.hidden = True
        return True

    def field_bits(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        f.size = doc.get("size", 1)
        if not isinstance(f.size, int) or not 1 <= f.size <= 8:
            self.problem(join_pointer(f.pointer, "size"), f"bits size must be 1 to 8 bytes, got {f.size!r}")
            return False
        if "bits" not in doc:
            self.problem(f.pointer, "missing required key 'bits'")
            return False
        total = f.size * 8
        used: dict[int, str] = {}
        names: set[str] = set()
        for i, bdoc in enumerate(doc["bits"]):
            bptr = join_pointer(f.pointer, "bits", i)
            width = bdoc.get("width", 1)
            member = BitModel(name=bdoc.get("name"), bit=bdoc["bit"], width=width, parity=bdoc.get("parity"))
            if member.bit + width > total:
                self.problem(bptr, f"bits {member.bit}..{member.bit + width - 1} do not fit a {total}-bit field")
                continue
            if member.parity and (width != 1 or member.name):
                self.problem(bptr, "a parity entry is one unnamed bit")
                continue
            if not member.parity and not member.name:
                self.problem(bptr, "missing required key 'name'")
                continue
            if member.name in names:
                self.problem(join_pointer(bptr, "name"), f"duplicate bit name '{member.name}'")
                continue
            for b in range(member.bit, member.bit + width):
                if b in used:
                    self.problem(bptr, f"bit {b} is already used by '{used[b]}'")
                    break
                used[b] = member.name or "parity"
            else:
                if "enum" in bdoc:
                    member.enum, _ = self.resolve_enum(
                        bdoc["enum"], join_pointer(bptr, "enum"), 8, False, f"{width}-bit field"
                    )
                    if member.enum:
                        for label, value in member.enum.items():
                            if value >= 1 << width:
                                self.problem(
                                    join_pointer(bptr, "enum", label),
                                    f"enum value {label}={value} does not fit {width} bits",
                                )
                if member.name:
                    names.add(member.name)
                f.bits.append(member)
        if len([b for b in f.bits if b.parity]) > 1:
            self.problem(f.pointer, "only one parity bit per field")
        return True
