"""Semantic checks of binary fields: each ``field_<kind>`` method fills a ``FieldModel`` from its YAML mapping."""

from __future__ import annotations

import re
from decimal import InvalidOperation
from typing import Any

from core.spec import expr as ex
from core.spec.checksums import ALGORITHMS, Crc
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
    ProcessModel,
    StructModel,
)

#: (expression, pointer, index of the field in its struct, names it may use besides earlier fields)
PendingExpr = tuple[ex.Expr, str, int, frozenset[str]]


class FieldChecks:
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

    def process(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        """``process: {transform, params, if, check}``: the field's bytes pass through a transform first."""
        from core.spec.transforms import TRANSFORMS

        ptr = join_pointer(f.pointer, "process")
        name = doc["transform"]
        if name not in TRANSFORMS:
            known = sorted(TRANSFORMS)
            self.problem(
                join_pointer(ptr, "transform"),
                f"unknown transform '{name}'; transforms: {', '.join(known)}{did_you_mean(name, known)}",
            )
            return False
        process = ProcessModel(transform=name)
        for key, value in (doc.get("params") or {}).items():
            if isinstance(value, str):
                parsed = self.expression(value, join_pointer(ptr, "params", key))
                if parsed is None:
                    return False
                process.params[key] = parsed
            else:
                process.params[key] = value
        missing = sorted(set(TRANSFORMS[name].params) - set(process.params))
        if missing:
            self.problem(ptr, f"the transform '{name}' needs the params {', '.join(missing)}")
            return False
        known_params = tuple(TRANSFORMS[name].params) + tuple(getattr(TRANSFORMS[name], "optional", ()))
        unknown = sorted(set(process.params) - set(known_params))
        if unknown:
            self.problem(
                join_pointer(ptr, "params", unknown[0]),
                f"unknown param '{unknown[0]}' of the transform '{name}'; params: {', '.join(known_params)}",
                prefer_key=True,
            )
            return False
        if "if" in doc:
            process.condition = self.expression(doc["if"], join_pointer(ptr, "if"))
            if process.condition is None:
                return False
        if "check" in doc:
            process.check = bytes.fromhex("".join(str(doc["check"]).split()))
        f.process = process
        if f.kind == "struct":
            f.until_end = True  # a processed struct reads the rest of its region
        f.size = None
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

    def field_array(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        given = [k for k in ("count", "count_from", "until", "chain") if k in doc]
        if len(given) != 1:
            self.problem(
                f.pointer,
                f"an array needs exactly one of count, count_from, until, chain; got {', '.join(given) or 'none'}",
            )
            return False
        if "of" not in doc:
            self.problem(f.pointer, "missing required key 'of'")
            return False
        if isinstance(doc.get("count"), str):
            f.count_expr = self.expression(doc["count"], join_pointer(f.pointer, "count"))
            if f.count_expr is None:
                return False
        else:
            f.count = doc.get("count")
        f.count_from = doc.get("count_from")
        if "until" in doc:
            if doc["until"] == "end":
                f.until_end = True
            else:
                f.until_expr = self.expression(
                    doc["until"], join_pointer(f.pointer, "until"), frozenset({"item", "index"})
                )
                if f.until_expr is None:
                    return False
        f.chain = doc.get("chain")
        f.max_count = doc.get("max")
        if "max" in doc and f.count is not None:
            self.problem(join_pointer(f.pointer, "max"), "max bounds an array read until a condition, end or chain")
            return False
        f.skip = frozenset(doc.get("skip", ()))
        if "skip" in doc and not (f.until_end or f.until_expr is not None):
            self.problem(join_pointer(f.pointer, "skip"), "filler bytes are skipped in an array read until")
            return False
        stops = []
        for i, text in enumerate(doc.get("stop", ())):
            marker = bytes.fromhex("".join(str(text).split())) if len("".join(str(text).split())) % 2 == 0 else b""
            if not marker:
                self.problem(join_pointer(f.pointer, "stop", i), f"a stop marker is hex bytes, got {text!r}")
                return False
            stops.append(marker)
        f.stop = tuple(stops)
        if f.stop and not f.until_end:
            self.problem(join_pointer(f.pointer, "stop"), "stop markers end an array read until: end")
            return False
        of = doc["of"]
        of_doc = {"type": of} if isinstance(of, str) else dict(of)
        of_pointer = join_pointer(f.pointer, "of")
        element = self.field(
            of_doc, of_pointer, [], False, 0, element=True, type_pointer=of_pointer if isinstance(of, str) else None
        )
        if element is None:
            return False
        if element.hidden or element.kind in ("switch", "checksum", "computed") or element.condition is not None:
            self.problem(join_pointer(f.pointer, "of"), f"an array cannot hold {element.type_name} elements")
            return False
        if f.chain is not None:
            if element.kind != "int" or element.enum or element.scale is not None or element.offset is not None:
                self.problem(join_pointer(f.pointer, "chain"), "a chain holds plain integer elements (u8, say)")
                return False
            if f.chain >= 8 * (element.size or 1):
                self.problem(
                    join_pointer(f.pointer, "chain"), f"bit {f.chain} does not fit a {element.type_name} element"
                )
                return False
        if element.size is None and (f.count is not None or f.count_from is not None) and not f.variable:
            pass  # a variable element makes the array variable; the generated readers handle it
        f.element = element
        if f.count is not None and element.size is not None:
            f.size = f.count * element.size
        return True

    def field_struct(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        model = self.struct_type(f.type_name, join_pointer(f.pointer, "type"))
        if model is None:
            return False
        f.struct = model
        f.size = model.size
        f.flatten = bool(doc.get("flatten", False))
        if "process" in doc:
            return self.process(f, doc["process"])
        return True

    def field_computed(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        if "value" not in doc:
            self.problem(f.pointer, "missing required key 'value'")
            return False
        f.value_expr = self.expression(doc["value"], join_pointer(f.pointer, "value"))
        if f.value_expr is None:
            return False
        f.unit = doc.get("unit")
        f.size = 0
        return True

    def case_body(self, key: Any, case: Any, ptr: str, f: FieldModel) -> tuple[str, Any] | None:
        """("struct", StructModel) or ("field", FieldModel | None) for one case (or the default)."""
        if case == []:  # an empty case: nothing more follows for this key
            return "struct", StructModel(name="(no fields)", fields=[], pointer=ptr)
        if isinstance(case, dict):
            inner = self.field(dict(case), ptr, [], False, 0, element=True)
            if inner is None:
                return None
            if inner.kind in ("checksum", "switch") or inner.hidden:
                self.problem(ptr, f"a case cannot be a {inner.type_name} field")
                return None
            inner.name = f.name
            return "field", inner
        if isinstance(case, str) and case in self.type_docs:
            model = self.struct_type(case, ptr)
            return ("struct", model) if model is not None else None
        if isinstance(case, str) and (case in INT_TYPES or case in FLOAT_TYPES or case in ("ipv4",)):
            inner = self.field({"type": case}, ptr, [], False, 0, element=True, type_pointer=ptr)
            if inner is None:
                return None
            inner.name = f.name
            return "field", inner
        known = sorted(self.type_docs)
        label = "the default case" if key is None else f"case {key!r}"
        self.problem(
            ptr,
            f"unknown type '{case}' for {label}; types: {', '.join(known) or '(none)'}{did_you_mean(str(case), known)}",
        )
        return None

    def field_switch(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        if "on" not in doc or "cases" not in doc:
            self.problem(f.pointer, "a switch needs 'on' and 'cases'")
            return False
        on = str(doc["on"])
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", on) and not on.startswith("_"):
            f.switch_on, _, member = on.partition(".")
            f.switch_member = member or None
        else:
            f.switch_expr = self.expression(on, join_pointer(f.pointer, "on"))
            if f.switch_expr is None:
                return False
        if "mask" in doc:
            if f.switch_expr is not None:
                self.problem(join_pointer(f.pointer, "mask"), "write the mask in the expression: on: 'x & 0x0F'")
                return False
            f.switch_mask = doc["mask"]
        bodies: dict[Any, tuple[str, Any, str]] = {}
        for key, case in doc["cases"].items():
            ptr = join_pointer(f.pointer, "cases", key)
            body = self.case_body(key, case, ptr, f)
            if body is not None:
                bodies[key] = (body[0], body[1], ptr)
        default: tuple[str, Any] | None = None
        if "default" in doc:
            dptr = join_pointer(f.pointer, "default")
            if not isinstance(doc["default"], (str, list, dict)):
                self.problem(dptr, f"the default case is a type name or [] (no fields), got {doc['default']!r}")
            else:
                default = self.case_body(None, doc["default"], dptr, f)
        f.value_switch = any(kind == "field" for kind, _, _ in bodies.values()) or (
            default is not None and default[0] == "field"
        )

        def as_value(kind: str, body: Any) -> FieldModel | None:
            if kind == "field":
                return body
            if not body.fields:
                return None
            holder = FieldModel(name=f.name, kind="struct", pointer=body.pointer, type_name=body.name, struct=body)
            holder.size = body.size
            return holder

        cases: dict[Any, tuple[Any, str]] = {}
        for key, (kind, body, ptr) in bodies.items():
            value = as_value(kind, body) if f.value_switch else body
            span = _range_key(key)
            if span is not None:
                if span[1] < span[0]:
                    self.problem(ptr, f"case range {key!r} is empty", prefer_key=True)
                    continue
                f.range_cases.append((span[0], span[1], value))
            elif f.switch_expr is not None:
                target: dict[Any, Any] = f.value_cases if f.value_switch else f.cases
                target[key] = value
            else:
                cases[key] = (value, ptr)
        self.raw_cases[id(f)] = cases
        if default is not None:
            if f.value_switch:
                f.default_field, f.has_default_field = as_value(*default), True
            else:
                f.default_case = default[1]
        if f.value_switch:
            fields = list(f.value_cases.values()) + [c for _, _, c in f.range_cases] + [v for v, _ in cases.values()]
            fields += [f.default_field] if f.has_default_field else []
            sizes = {0 if c is None else c.size for c in fields}
        else:
            models = list(f.cases.values()) + [c for _, _, c in f.range_cases] + [m for m, _ in cases.values()]
            sizes = {m.size for m in models} | ({f.default_case.size} if f.default_case else set())
        f.size = sizes.pop() if len(sizes) == 1 and f.switch_expr is None and not f.range_cases else None
        return True

    def field_checksum(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        algorithm = doc.get("algorithm")
        if algorithm in self.crcs:
            f.crc = self.crcs[algorithm]
            f.size = f.crc.size
        elif algorithm in ALGORITHMS:
            f.size = ALGORITHMS[algorithm][1]
        else:
            known = sorted(set(ALGORITHMS) | set(self.crcs))
            self.problem(
                join_pointer(f.pointer, "algorithm"),
                f"expected one of {', '.join(known)}, got {algorithm!r}{did_you_mean(str(algorithm), known)}",
            )
            return False
        f.algorithm = algorithm
        f.start = doc.get("start", 0)
        f.end = doc.get("end")
        if "over" in doc:
            if "start" in doc or "end" in doc:
                self.problem(
                    join_pointer(f.pointer, "over"), "a checksum covers either named fields (over) or start..end"
                )
                return False
            f.over = [doc["over"]] if isinstance(doc["over"], str) else list(doc["over"])
        f.hidden = True
        return True


def _range_key(key: Any) -> tuple[int, int] | None:
    """(low, high) of a case key written ``'0x10..0x1F'``; None for any other key."""
    if not isinstance(key, str) or ".." not in key:
        return None
    low, _, high = key.partition("..")
    try:
        return int(low.strip(), 0), int(high.strip(), 0)
    except ValueError:
        return None
