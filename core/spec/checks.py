"""Schema validation and semantic checks; turns a located YAML document into a ``SpecModel``."""

from __future__ import annotations

import difflib
import json
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib.resources import files
from typing import Any

import jsonschema

from core.spec.checksums import ALGORITHMS
from core.spec.loader import Located
from core.spec.problems import Problem, join_pointer
from core.spec.types import (
    COMMON_KEYS,
    FLOAT_TYPES,
    INT_TYPES,
    PRIMITIVE_NAMES,
    TEXT_TYPES,
    TYPE_KEYS,
    BitModel,
    FieldModel,
    FramingModel,
    MessageModel,
    SpecModel,
    StructModel,
    TextFieldModel,
    TextModel,
)


@lru_cache(maxsize=1)
def spec_schema() -> dict[str, Any]:
    return json.loads(files("core.spec").joinpath("schema.json").read_text(encoding="utf-8"))


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown_key_message(key: str, allowed: list[str]) -> str:
    return f"unknown key '{key}'; allowed keys: {', '.join(sorted(allowed))}{did_you_mean(key, sorted(allowed))}"


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _schema_problems(located: Located, error: jsonschema.ValidationError, root: dict[str, Any]) -> list[Problem]:
    pointer = join_pointer("", *error.absolute_path)
    validator = error.validator
    if validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        field_type = error.instance.get("type") if isinstance(error.instance, dict) else None
        if "cases" in allowed and isinstance(field_type, str):
            kind = "int" if field_type in INT_TYPES else "float" if field_type in FLOAT_TYPES else field_type
            if field_type in TYPE_KEYS or kind in (
                "int",
                "float",
            ):  # a binary field: list only the keys its type accepts
                allowed = sorted(COMMON_KEYS | TYPE_KEYS[field_type if kind in ("int", "float") else kind])
        every_key = error.schema.get("properties", {})
        extras = [k for k in error.instance if k not in allowed]
        problems = []
        for key in extras:
            if key in every_key:  # known to the language, just not for this field type
                message = (
                    f"key '{key}' is not allowed for type {field_type}; allowed keys: {', '.join(sorted(allowed))}"
                    f"{did_you_mean(str(key), sorted(allowed))}"
                )
            else:
                message = unknown_key_message(str(key), allowed)
            problems.append(located.problem(join_pointer(pointer, key), message, prefer_key=True))
        return problems
    if validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        key = missing[0] if missing else error.message
        return [located.problem(pointer, f"missing required key '{key}'")]
    if validator == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return [located.problem(pointer, f"expected one of {options}, got {error.instance!r}")]
    if validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return [located.problem(pointer, f"expected {expected}, got {_json_type(error.instance)} {error.instance!r}")]
    if validator == "oneOf":
        alternatives = error.validator_value
        required_sets = [s.get("required") for s in alternatives]
        if all(required_sets):
            keys = " or ".join(f"'{r[0]}'" for r in required_sets)
            return [located.problem(pointer, f"exactly one of {keys} is required")]
        if error.context:
            best = jsonschema.exceptions.best_match(error.context)
            return _schema_problems(located, best, root)
    if validator == "maxProperties" and pointer == "/framing":
        kinds = ", ".join(sorted(error.schema.get("properties", {})))
        return [
            located.problem(
                pointer, f"exactly one framing kind is allowed ({kinds}), got {', '.join(map(str, error.instance))}"
            )
        ]
    if validator == "minProperties" and pointer == "/framing":
        kinds = ", ".join(sorted(error.schema.get("properties", {})))
        return [located.problem(pointer, f"one framing kind is required: {kinds}")]
    if validator == "maxItems" and error.validator_value == 0 and "/cases/" in pointer:
        return [located.problem(pointer, f"a case is a type name or [] (no fields), got {error.instance!r}")]
    if validator == "pattern" and error.validator_value == "^[0-9A-Fa-f\\s]*$":
        return [located.problem(pointer, f"expected hex digits, got {error.instance!r}")]
    if validator == "pattern":
        return [located.problem(pointer, f"{error.instance!r} does not match the pattern {error.validator_value}")]
    if validator == "propertyNames" and error.context:
        names = [c.instance for c in error.context]
        return [
            located.problem(
                join_pointer(pointer, n),
                f"invalid name {n!r}: use letters, digits and '_' (not starting with a digit)",
                prefer_key=True,
            )
            for n in names
        ]
    return [located.problem(pointer, error.message)]


def schema_problems(located: Located) -> list[Problem]:
    root = spec_schema()
    validator = jsonschema.Draft202012Validator(root)
    problems: list[Problem] = []
    for error in sorted(validator.iter_errors(located.data), key=lambda e: list(map(str, e.absolute_path))):
        problems.extend(_schema_problems(located, error, root))
    return problems


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    return Decimal(str(value))


def int_range(width: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (8 * width - 1)), (1 << (8 * width - 1)) - 1
    return 0, (1 << (8 * width)) - 1


class ModelBuilder:
    """Walks a schema-valid spec, reporting semantic problems and building the model."""

    def __init__(self, located: Located) -> None:
        self.located = located
        self.doc: dict[str, Any] = located.data
        self.problems: list[Problem] = []
        meta = self.doc["meta"]
        self.endian = meta.get("endian", "big")
        self.reserved_check = meta.get("reserved", "check") == "check"
        self.enums: dict[str, dict[str, int]] = self.doc.get("enums", {}) or {}
        self.type_docs: dict[str, Any] = self.doc.get("types", {}) or {}
        self.structs: dict[str, StructModel] = {}
        self._building: list[str] = []
        self.raw_cases: dict[int, dict[Any, tuple[StructModel, str]]] = {}

    def problem(self, pointer: str, message: str, prefer_key: bool = False) -> None:
        self.problems.append(self.located.problem(pointer, message, prefer_key))

    # ------------------------------------------------------------------ structs

    def struct_type(self, name: str, pointer: str) -> StructModel | None:
        if name in self.structs:
            return self.structs[name]
        if name in self._building:
            self.problem(pointer, f"type '{name}' contains itself ({' -> '.join(self._building + [name])})")
            return None
        self._building.append(name)
        doc = self.type_docs[name]
        model = self.struct(name, doc["fields"], f"/types/{name}/fields")
        self._building.pop()
        self.structs[name] = model
        return model

    def struct(self, name: str, field_docs: list[dict[str, Any]], pointer: str, top_level: bool = False) -> StructModel:
        fields: list[FieldModel] = []
        for index, doc in enumerate(field_docs):
            fpointer = join_pointer(pointer, index)
            model = self.field(doc, fpointer, fields, top_level, index)
            if model is not None:
                fields.append(model)
        struct = StructModel(name=name, fields=fields, pointer=pointer)
        self.link_references(struct)
        self.check_names(struct)
        return struct

    def check_names(self, struct: StructModel) -> None:
        seen: dict[str, str] = {}
        for f in struct.fields:
            names = [(f.name, f.pointer)] if f.kind != "switch" else []
            if f.kind == "switch":
                case_names: set[str] = set()
                for case in list(f.cases.values()) + ([f.default_case] if f.default_case else []):
                    case_names.update(c.name for c in case.fields if c.visible)
                names = [(n, f.pointer) for n in sorted(case_names)]
            for name, ptr in names:
                if name in seen:
                    self.problem(
                        join_pointer(ptr, "name") if f.kind != "switch" else ptr,
                        f"duplicate field name '{name}' (also at {seen[name]})",
                    )
                else:
                    seen[name] = ptr

    def link_references(self, struct: StructModel) -> None:
        by_name = {f.name: (i, f) for i, f in enumerate(struct.fields)}
        for index, f in enumerate(struct.fields):
            for key, ref in (
                ("count_from", f.count_from),
                ("size_from", f.size_from),
                ("length_of", f.length_of),
                ("on", f.switch_on),
            ):
                if ref is None:
                    continue
                ptr = join_pointer(f.pointer, key)
                if ref not in by_name:
                    known = [n for n in by_name if n != f.name]
                    self.problem(
                        ptr,
                        f"'{ref}' is not a field of this struct; fields: {', '.join(known)}{did_you_mean(ref, known)}",
                    )
                    continue
                ref_index, target = by_name[ref]
                if key == "length_of":
                    if ref_index <= index:
                        self.problem(ptr, f"length field '{f.name}' must come before its target '{ref}'")
                        continue
                    if target.kind in ("bytes", "string") and target.size is not None:
                        self.problem(
                            join_pointer(target.pointer, "size"),
                            f"the size of '{ref}' comes from the length field '{f.name}': use 'until: end' instead of 'size'",
                        )
                        continue
                    if target.length_field is not None:
                        self.problem(ptr, f"'{ref}' already has a length field '{target.length_field}'")
                        continue
                    target.length_field = f.name
                    f.hidden = True
                    f.computed_kind = "length"
                    f.computed_from = ref
                    continue
                if ref_index >= index:
                    self.problem(ptr, f"'{ref}' must be an earlier field than '{f.name}'")
                    continue
                if key == "on":
                    self.check_switch_on(f, target, ptr)
                    continue
                if (
                    target.kind != "int"
                    or target.enum
                    or target.scale is not None
                    or target.offset is not None
                    or target.const is not None
                ):
                    self.problem(
                        ptr,
                        f"'{ref}' must be a plain integer field to hold a {'count' if key == 'count_from' else 'size'}",
                    )
                    continue
                if target.computed_from is not None:
                    self.problem(ptr, f"'{ref}' already holds the {target.computed_kind} of '{target.computed_from}'")
                    continue
                target.hidden = True
                target.computed_from = f.name
                target.computed_kind = "count" if key == "count_from" else "size"

    def check_switch_on(self, switch: FieldModel, target: FieldModel, ptr: str) -> None:
        """A switch is on an integer field or on one named member of a bits field (``on: flags.kind``)."""
        ref = target.name
        members = [b for b in target.bits if b.name]
        if switch.switch_member is not None:
            if target.kind != "bits":
                self.problem(
                    ptr, f"'{ref}' is {target.type_name}, not bits: only a bits field has members to switch on"
                )
                return
            names = [b.name or "" for b in members]
            member = next((b for b in members if b.name == switch.switch_member), None)
            if member is None:
                self.problem(
                    ptr,
                    f"'{ref}' has no bit named '{switch.switch_member}'; bits: {', '.join(names)}"
                    f"{did_you_mean(switch.switch_member, names)}",
                )
                return
            self.check_cases(
                switch, member.enum, 0, (1 << member.width) - 1, f"{member.width}-bit", f"{ref}.{member.name}"
            )
            return
        if target.kind == "bits":
            choices = ", ".join(f"{ref}.{b.name}" for b in members) or "(it has none)"
            self.problem(
                ptr, f"'{ref}' is a bits field: switch on one of its members ({choices}), not on the whole field"
            )
            return
        if target.kind != "int" or target.hidden:
            self.problem(ptr, f"a switch needs an integer field, '{ref}' is {target.type_name}")
            return
        lo, hi = int_range(target.size or 1, target.signed)
        self.check_cases(switch, target.enum, lo, hi, target.type_name, ref)

    def check_cases(
        self, switch: FieldModel, enum: dict[str, int] | None, lo: int, hi: int, type_name: str, on_name: str
    ) -> None:
        """Turn the case keys into the values the switched-on field decodes to (enum labels or ints)."""
        raw_cases = self.raw_cases.pop(id(switch), {})
        for key, (model, ptr) in raw_cases.items():
            if enum:
                if isinstance(key, int) and not isinstance(key, bool):
                    labels = [label for label, value in enum.items() if value == key]
                    if labels:
                        switch.cases[labels[0]] = model
                    elif lo <= key <= hi:
                        switch.cases[key] = model
                    else:
                        self.problem(ptr, f"case {key} does not fit {type_name} field '{on_name}'")
                    continue
                if str(key) not in enum:
                    labels = sorted(enum)
                    self.problem(
                        ptr,
                        f"case '{key}' is not a value of enum '{on_name}': expected one of {', '.join(labels)}{did_you_mean(str(key), labels)}",
                        prefer_key=True,
                    )
                    continue
                switch.cases[str(key)] = model
            else:
                if isinstance(key, int) and not isinstance(key, bool):
                    if not lo <= key <= hi:
                        self.problem(
                            ptr,
                            f"case {key} does not fit {type_name} field '{on_name}' ({lo}..{hi})",
                            prefer_key=True,
                        )
                        continue
                    switch.cases[key] = model
                else:
                    self.problem(
                        ptr, f"case {key!r} must be an integer: field '{on_name}' has no enum", prefer_key=True
                    )

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
        method = getattr(self, f"field_{kind}")
        if method(f, doc) is False:
            return None
        if kind == "checksum" and (not top_level or element):
            self.problem(pointer, "a checksum field must be a top-level field of a message")
        return f

    def sized(self, f: FieldModel, doc: dict[str, Any], what: str = "size") -> bool:
        given = [k for k in ("size", "size_from", "until") if k in doc]
        if len(given) > 1:
            self.problem(f.pointer, f"use only one of size, size_from, until; got {', '.join(given)}")
            return False
        if "size" in doc:
            f.size = doc["size"]
        elif "size_from" in doc:
            f.size_from = doc["size_from"]
        elif "until" in doc:
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
        return True

    def field_string(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        if not self.sized(f, doc):
            return False
        f.pad = doc.get("pad", "\x00")
        f.align = doc.get("align", "left")
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
        return True

    def field_bcd(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        if not self.sized(f, doc) or f.size is None:
            return False
        f.bcd_signed = doc.get("signed", False)
        f.decimals = doc.get("decimals")
        f.unit = doc.get("unit")
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
        if f.size not in (1, 2, 4):
            self.problem(join_pointer(f.pointer, "size"), f"bits size must be 1, 2 or 4 bytes, got {f.size}")
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
        given = [k for k in ("count", "count_from", "until") if k in doc]
        if len(given) != 1:
            self.problem(
                f.pointer, f"an array needs exactly one of count, count_from, until; got {', '.join(given) or 'none'}"
            )
            return False
        if "of" not in doc:
            self.problem(f.pointer, "missing required key 'of'")
            return False
        f.count = doc.get("count")
        f.count_from = doc.get("count_from")
        f.until_end = "until" in doc
        of = doc["of"]
        of_doc = {"type": of} if isinstance(of, str) else dict(of)
        of_pointer = join_pointer(f.pointer, "of")
        element = self.field(
            of_doc, of_pointer, [], False, 0, element=True, type_pointer=of_pointer if isinstance(of, str) else None
        )
        if element is None:
            return False
        if element.hidden or element.kind in ("switch", "checksum"):
            self.problem(join_pointer(f.pointer, "of"), f"an array cannot hold {element.type_name} elements")
            return False
        if element.size is None:
            self.problem(join_pointer(f.pointer, "of"), "array elements must have a fixed size")
            return False
        f.element = element
        if f.count is not None:
            f.size = f.count * element.size
        return True

    def field_struct(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        model = self.struct_type(f.type_name, join_pointer(f.pointer, "type"))
        if model is None:
            return False
        f.struct = model
        f.size = model.size
        return True

    def field_switch(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        if "on" not in doc or "cases" not in doc:
            self.problem(f.pointer, "a switch needs 'on' and 'cases'")
            return False
        f.switch_on, _, member = str(doc["on"]).partition(".")
        f.switch_member = member or None
        cases: dict[Any, tuple[StructModel, str]] = {}
        for key, type_name in doc["cases"].items():
            ptr = join_pointer(f.pointer, "cases", key)
            if type_name == []:  # an empty case: nothing more follows for this key
                cases[key] = (StructModel(name="(no fields)", fields=[], pointer=ptr), ptr)
                continue
            if type_name not in self.type_docs:
                known = sorted(self.type_docs)
                self.problem(
                    ptr,
                    f"unknown type '{type_name}' for case {key!r}; types: {', '.join(known) or '(none)'}{did_you_mean(type_name, known)}",
                )
                continue
            model = self.struct_type(type_name, ptr)
            if model is not None:
                cases[key] = (model, ptr)
        self.raw_cases[id(f)] = cases
        if "default" in doc:
            name = doc["default"]
            if name == []:
                f.default_case = StructModel(name="(no fields)", fields=[], pointer=join_pointer(f.pointer, "default"))
            elif not isinstance(name, str):
                self.problem(
                    join_pointer(f.pointer, "default"),
                    f"the default case is a type name or [] (no fields), got {name!r}",
                )
            elif name not in self.type_docs:
                self.problem(join_pointer(f.pointer, "default"), f"unknown type {name!r} for the default case")
            else:
                f.default_case = self.struct_type(name, join_pointer(f.pointer, "default"))
        sizes = {m.size for m, _ in cases.values()} | ({f.default_case.size} if f.default_case else set())
        f.size = sizes.pop() if len(sizes) == 1 else None
        return True

    def field_checksum(self, f: FieldModel, doc: dict[str, Any]) -> bool:
        algorithm = doc.get("algorithm")
        if algorithm not in ALGORITHMS:
            known = sorted(ALGORITHMS)
            self.problem(
                join_pointer(f.pointer, "algorithm"),
                f"expected one of {', '.join(known)}, got {algorithm!r}{did_you_mean(str(algorithm), known)}",
            )
            return False
        f.algorithm = algorithm
        f.size = ALGORITHMS[algorithm][1]
        f.start = doc.get("start", 0)
        f.end = doc.get("end")
        f.hidden = True
        return True

    # ------------------------------------------------------------------ messages

    def text(self, doc: dict[str, Any], pointer: str) -> TextModel | None:
        regex = doc.get("regex")
        columns = doc.get("columns", False)
        if bool(regex) == bool(columns):
            self.problem(pointer, "a text message needs exactly one of 'regex' or 'columns: true'")
            return None
        groups: set[str] = set()
        if regex:
            try:
                groups = set(re.compile(regex).groupindex)
            except re.error as exc:
                self.problem(join_pointer(pointer, "regex"), f"invalid regular expression: {exc}")
                return None
        fields: list[TextFieldModel] = []
        spans: list[tuple[int, int, str]] = []
        names: set[str] = set()
        for i, fdoc in enumerate(doc["fields"]):
            fptr = join_pointer(pointer, "fields", i)
            kind = fdoc["type"]
            if kind not in TEXT_TYPES:
                self.problem(join_pointer(fptr, "type"), f"expected one of {', '.join(TEXT_TYPES)}, got {kind!r}")
                continue
            tf = TextFieldModel(
                name=fdoc["name"],
                kind=kind,
                pointer=fptr,
                group=fdoc.get("group"),
                optional=fdoc.get("optional", False),
                strip=fdoc.get("strip", True),
                width=fdoc.get("width"),
                pad=fdoc.get("pad", " "),
                align=fdoc.get("align", "right" if kind in ("int", "decimal") else "left"),
                prefix=fdoc.get("prefix", ""),
                suffix=fdoc.get("suffix", ""),
                null_if=fdoc.get("null_if", {}),
                null_fill=fdoc.get("null_fill"),
                match=fdoc.get("match"),
            )
            if tf.name in names:
                self.problem(join_pointer(fptr, "name"), f"duplicate field name '{tf.name}'")
                continue
            names.add(tf.name)
            if "columns" in fdoc:
                start, end = fdoc["columns"]
                if not columns:
                    self.problem(join_pointer(fptr, "columns"), "columns need 'columns: true' on the text message")
                    continue
                if end <= start:
                    self.problem(join_pointer(fptr, "columns"), f"column end {end} must be after start {start}")
                    continue
                for other_start, other_end, other in spans:
                    if start < other_end and other_start < end:
                        self.problem(
                            join_pointer(fptr, "columns"),
                            f"columns {start}..{end} overlap field '{other}' ({other_start}..{other_end})",
                        )
                        break
                else:
                    spans.append((start, end, tf.name))
                    tf.columns = (start, end)
            elif tf.kind != "line":
                if columns:
                    self.problem(fptr, "missing required key 'columns'")
                    continue
                if tf.group is None and tf.kind != "bool":
                    self.problem(fptr, "missing required key 'group'")
                    continue
                if tf.group is not None and tf.group not in groups:
                    self.problem(
                        join_pointer(fptr, "group"),
                        f"the regex has no group '{tf.group}'; groups: {', '.join(sorted(groups))}{did_you_mean(tf.group, sorted(groups))}",
                    )
                    continue
            if kind == "choice":
                choices = fdoc.get("choices")
                if not choices:
                    self.problem(fptr, "a choice needs 'choices'")
                    continue
                tf.choices = {c: c for c in choices} if isinstance(choices, list) else dict(choices)
            if kind == "bool":
                try:
                    re.compile(fdoc.get("match", ""))
                except re.error as exc:
                    self.problem(join_pointer(fptr, "match"), f"invalid regular expression: {exc}")
                    continue
                if "match" not in fdoc:
                    self.problem(fptr, "a bool needs 'match'")
                    continue
            fields.append(tf)
        for tf in fields:
            for other in tf.null_if:
                if other not in names:
                    self.problem(join_pointer(tf.pointer, "null_if", other), f"null_if names unknown field '{other}'")
        template_names = re.findall(r"{([A-Za-z_][A-Za-z0-9_]*)}", doc["template"])
        for tname in template_names:
            if tname not in names:
                self.problem(
                    join_pointer(pointer, "template"),
                    f"the template names unknown field '{tname}'{did_you_mean(tname, sorted(names))}",
                )
        return TextModel(
            regex=regex, columns=bool(columns), mode=doc.get("match", "full"), template=doc["template"], fields=fields
        )

    def build(self) -> SpecModel:
        for name in self.type_docs:
            self.struct_type(name, f"/types/{name}")
        messages: dict[str, MessageModel] = {}
        for name, mdoc in self.doc["messages"].items():
            ptr = f"/messages/{name}"
            message = MessageModel(
                name=name, direction=mdoc["direction"], pointer=ptr, description=mdoc.get("description", "")
            )
            if "fields" in mdoc:
                message.struct = self.struct(name, mdoc["fields"], ptr + "/fields", top_level=True)
                self.check_checksums(message.struct)
                self.check_until_end(message.struct)
            else:
                message.text = self.text(mdoc["text"], ptr + "/text")
            messages[name] = message
        framing_doc = self.doc["framing"]
        kind = next(iter(framing_doc))
        framing = FramingModel(kind=kind, options=dict(framing_doc[kind]))
        if kind == "length_field":
            framing.options.setdefault("endian", self.endian)
        if not self.problems:  # sizes of messages with broken fields would only repeat those problems
            self.check_framing(framing, messages)
        meta = self.doc["meta"]
        return SpecModel(
            name=meta["name"],
            title=meta.get("title", ""),
            endian=self.endian,
            reserved_check=self.reserved_check,
            framing=framing,
            messages=messages,
            examples=list(self.doc.get("examples", []) or []),
        )

    def check_checksums(self, struct: StructModel) -> None:
        offset: int | None = 0
        for f in struct.fields:
            if f.kind == "checksum":
                end = f.end if f.end is not None else offset
                if offset is None:
                    self.problem(f.pointer, "a checksum must follow fixed-size fields")
                elif end is None or end > offset or f.start >= end:
                    self.problem(
                        join_pointer(f.pointer, "end" if f.end is not None else "start"),
                        f"checksum range {f.start}..{end} must be non-empty and end at or before the checksum at offset {offset}",
                    )
                else:
                    f.end = end
            if offset is not None:
                offset = None if f.size is None else offset + f.size

    def check_until_end(self, struct: StructModel) -> None:
        for i, f in enumerate(struct.fields):
            if f.until_end and i != len(struct.fields) - 1 and f.length_field is None:
                trailing = sum((g.size or 0) for g in struct.fields[i + 1 :])
                if any(g.size is None for g in struct.fields[i + 1 :]):
                    self.problem(
                        join_pointer(f.pointer, "until"), "only fixed-size fields may follow a field read until the end"
                    )
                elif trailing:
                    f.end = trailing  # bytes to leave for the fields after it

    def check_framing(self, framing: FramingModel, messages: dict[str, MessageModel]) -> None:
        opts = framing.options
        ptr = f"/framing/{framing.kind}"
        if framing.kind == "fixed":
            for m in messages.values():
                if m.text is not None:
                    self.problem(m.pointer, "text messages need 'lines' framing")
                elif m.direction == "uplink" and m.size is not None and m.size != opts["length"]:
                    self.problem(
                        join_pointer(ptr, "length"),
                        f"fixed framing length {opts['length']} does not match message '{m.name}' of {m.size} bytes",
                    )
                elif m.direction == "uplink" and m.size is None and m.struct is not None:
                    self.problem(
                        join_pointer(ptr, "length"),
                        f"message '{m.name}' has a variable size: use length_field or delimited framing",
                    )
        if framing.kind == "lines":
            for m in messages.values():
                if m.struct is not None and m.direction == "uplink":
                    self.problem(m.pointer, "binary uplink messages cannot use 'lines' framing")
        for key in ("start", "end", "terminator", "strip"):
            if key in opts:
                raw = (
                    bytes.fromhex(str(opts[key]).replace(" ", ""))
                    if len(str(opts[key]).replace(" ", "")) % 2 == 0
                    else None
                )
                if raw is None or (key != "strip" and not raw):
                    self.problem(join_pointer(ptr, key), f"{key} must be hex bytes, got {opts[key]!r}")
        if framing.kind == "length_field":
            width = INT_TYPES[opts["type"]][0]
            if opts["offset"] + width > opts["max_length"]:
                self.problem(join_pointer(ptr, "offset"), "the length field does not fit max_length")


def check_spec(located: Located) -> tuple[SpecModel | None, list[Problem]]:
    problems = schema_problems(located)
    if problems:
        return None, sorted(problems, key=lambda p: (p.line, p.col))
    builder = ModelBuilder(located)
    model = builder.build()
    problems = sorted(builder.problems, key=lambda p: (p.line, p.col))
    return (model if not problems else None), problems
