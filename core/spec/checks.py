"""Semantic checks; turns a located YAML document into a ``SpecModel`` (schema first, see ``schema_check``)."""

from __future__ import annotations

from typing import Any

from core.spec.check_fields import FieldChecks, PendingExpr
from core.spec.check_text import TextChecks
from core.spec.checksums import Crc
from core.spec.expr import SPECIAL_NAMES, Expr
from core.spec.expr import parse as parse_expr
from core.spec.loader import Located
from core.spec.problems import Problem, join_pointer
from core.spec.schema_check import (
    did_you_mean,
    int_range,
    schema_problems,
    spec_schema,
    to_decimal,
    unknown_key_message,
)
from core.spec.tables import build_tables
from core.spec.types import (
    INT_TYPES,
    FieldModel,
    FramingModel,
    MessageModel,
    SpecModel,
    StructModel,
)

__all__ = [
    "check_spec",
    "did_you_mean",
    "int_range",
    "schema_problems",
    "spec_schema",
    "to_decimal",
    "unknown_key_message",
]


class ModelBuilder(FieldChecks, TextChecks):
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
        self.pending: list[list[PendingExpr]] = []
        self.all_exprs: list[Expr] = []
        self.field_index = 0
        self.crcs: dict[str, Crc] = {}
        for name, params in (self.doc.get("crcs") or {}).items():
            crc = Crc(
                params["width"],
                params["poly"],
                params.get("init", 0),
                params.get("xorout", 0),
                params.get("refin", False),
                params.get("refout", False),
            )
            if "check" in params and crc(b"123456789") != params["check"]:
                self.problem(
                    f"/crcs/{name}/check",
                    f"the CRC of '123456789' is {crc(b'123456789'):#x} with these parameters, not {params['check']:#x}",
                )
            self.crcs[name] = crc
        self.tables, problems = build_tables(self.doc.get("tables") or {}, self.located.problem)
        self.problems.extend(problems)

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
        self.check_until_end(model)
        self._building.pop()
        self.structs[name] = model
        return model

    def struct(self, name: str, field_docs: list[dict[str, Any]], pointer: str, top_level: bool = False) -> StructModel:
        fields: list[FieldModel] = []
        positions: list[int] = []
        self.pending.append([])
        saved_index = self.field_index
        for index, doc in enumerate(field_docs):
            fpointer = join_pointer(pointer, index)
            self.field_index = index
            model = self.field(doc, fpointer, fields, top_level, index)
            if model is not None:
                fields.append(model)
                positions.append(index)
        self.field_index = saved_index
        pending = self.pending.pop()
        struct = StructModel(name=name, fields=fields, pointer=pointer)
        self.link_references(struct)
        self.check_names(struct)
        self.check_expressions(struct, positions, pending)
        return struct

    def check_expressions(self, struct: StructModel, positions: list[int], pending: list[PendingExpr]) -> None:
        """Every name an expression reads is an earlier field (or a special name); every table exists."""
        for expression, pointer, index, extra in pending:
            known: list[str] = []
            for position, f in zip(positions, struct.fields, strict=True):
                if position >= index:
                    break
                if (f.kind == "switch" and not f.value_switch) or f.flatten:
                    known += [n for n, holder in struct.flattened.items() if holder == f.name]
                else:
                    known.append(f.name)
            allowed = set(known) | set(extra) | SPECIAL_NAMES
            unknown = sorted(expression.names - allowed)
            if unknown:
                where = f"; earlier fields: {', '.join(known)}" if known else "; there is no earlier field"
                self.problem(
                    pointer,
                    f"unknown name '{unknown[0]}' in {expression.text!r}{where}{did_you_mean(unknown[0], known)}",
                )
            for table in sorted(expression.tables - set(self.tables)):
                known_tables = sorted(self.tables)
                self.problem(
                    pointer,
                    f"unknown table '{table}' in {expression.text!r}; tables: {', '.join(known_tables) or '(none)'}"
                    f"{did_you_mean(table, known_tables)}",
                )

    def check_names(self, struct: StructModel) -> None:
        seen: dict[str, str] = {}
        for f in struct.fields:
            names = [(f.name, f.pointer)] if (f.kind != "switch" or f.value_switch) and not f.flatten else []
            if f.flatten and f.struct is not None:
                for c in f.struct.fields:
                    struct.flattened.setdefault(c.name, f.name)
                names = [(c.name, f.pointer) for c in f.struct.fields if c.visible or c.shown]
            if f.kind == "switch" and not f.value_switch:
                case_names: set[str] = set()
                cases = list(f.cases.values()) + [c for _, _, c in f.range_cases]
                for case in cases + ([f.default_case] if f.default_case else []):
                    case_names.update(c.name for c in case.fields if c.visible or c.shown)
                    for c in case.fields:
                        struct.flattened.setdefault(c.name, f.name)
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
        if target.kind not in ("int", "bits") and switch.switch_mask is None:
            # a computed (or text, bytes...) field: its value is the key, as for an expression
            switch.switch_expr, _ = parse_expr(ref)
            self.all_exprs.append(switch.switch_expr)
            switch.switch_on = None
            cases: dict[Any, Any] = switch.value_cases if switch.value_switch else switch.cases
            for key, (model, _ptr) in self.raw_cases.pop(id(switch), {}).items():
                cases[key] = model
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
        target: dict[Any, Any] = switch.value_cases if switch.value_switch else switch.cases
        for key, (model, ptr) in raw_cases.items():
            if enum:
                if isinstance(key, int) and not isinstance(key, bool):
                    labels = [label for label, value in enum.items() if value == key]
                    if labels:
                        target[labels[0]] = model
                    elif lo <= key <= hi:
                        target[key] = model
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
                target[str(key)] = model
            else:
                if isinstance(key, int) and not isinstance(key, bool):
                    if not lo <= key <= hi:
                        self.problem(
                            ptr,
                            f"case {key} does not fit {type_name} field '{on_name}' ({lo}..{hi})",
                            prefer_key=True,
                        )
                        continue
                    target[key] = model
                else:
                    self.problem(
                        ptr, f"case {key!r} must be an integer: field '{on_name}' has no enum", prefer_key=True
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
        if kind == "alternatives":
            alternatives = []
            for alternative in framing_doc[kind]:
                alt_kind = next(iter(alternative))
                options = dict(alternative[alt_kind])
                if alt_kind == "length_field":
                    options.setdefault("endian", self.endian)
                alternatives.append({alt_kind: options})
            framing = FramingModel(kind=kind, options={"alternatives": alternatives})
        else:
            framing = FramingModel(kind=kind, options=dict(framing_doc[kind]))
        if kind == "length_field":
            framing.options.setdefault("endian", self.endian)
        if not self.problems:  # sizes of messages with broken fields would only repeat those problems
            self.check_framing(framing, messages)
        tables = self.tables

        def lookup(table: str, key: Any) -> Any:
            return tables[table].get(key)

        for expression in self.all_exprs:
            expression.lookup = lookup
        meta = self.doc["meta"]
        return SpecModel(
            name=meta["name"],
            title=meta.get("title", ""),
            endian=self.endian,
            reserved_check=self.reserved_check,
            framing=framing,
            messages=messages,
            examples=list(self.doc.get("examples", []) or []),
            tables=self.tables,
        )

    def check_checksums(self, struct: StructModel) -> None:
        offset: int | None = 0
        seen: list[str] = []
        for f in struct.fields:
            if f.kind == "checksum" and f.over:
                for name in f.over:
                    if name not in seen:
                        self.problem(
                            join_pointer(f.pointer, "over"),
                            f"'{name}' is not an earlier field of this struct; earlier fields: {', '.join(seen)}"
                            f"{did_you_mean(name, seen)}",
                        )
                        break
                else:
                    order = [seen.index(n) for n in f.over]
                    if order != sorted(order) or order != list(range(order[0], order[-1] + 1)):
                        self.problem(
                            join_pointer(f.pointer, "over"),
                            f"a checksum covers consecutive fields in their order: {', '.join(seen[min(order) : max(order) + 1])}",
                        )
                    elif offset is not None:  # the fields sit at fixed offsets: the range is known now
                        sizes = [g.fixed_size or 0 for g in struct.fields]
                        f.start = sum(sizes[: order[0]])
                        f.end = sum(sizes[: order[-1] + 1])
                        f.over = []
            elif f.kind == "checksum":
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
                offset = None if f.fixed_size is None else offset + f.fixed_size
            seen.append(f.name)

    def check_until_end(self, struct: StructModel) -> None:
        for i, f in enumerate(struct.fields):
            if f.stop:
                continue  # a marker ends it: what follows may be of any size
            if f.until_end and i != len(struct.fields) - 1 and f.length_field is None:
                trailing = sum((g.fixed_size or 0) for g in struct.fields[i + 1 :])
                if any(g.fixed_size is None for g in struct.fields[i + 1 :]):
                    self.problem(
                        join_pointer(f.pointer, "until"), "only fixed-size fields may follow a field read until the end"
                    )
                elif trailing:
                    f.end = trailing  # bytes to leave for the fields after it

    def check_framing(self, framing: FramingModel, messages: dict[str, MessageModel]) -> None:
        opts = framing.options
        ptr = f"/framing/{framing.kind}"
        if framing.kind == "alternatives":
            starts: dict[bytes, int] = {}
            for i, alternative in enumerate(opts["alternatives"]):
                alt_kind, alt = next(iter(alternative.items()))
                aptr = join_pointer(ptr, i, alt_kind)
                if alt_kind == "fixed":
                    first = [bytes([b]) for b in alt.get("first_bytes", [])]
                else:
                    text = str(alt.get("start", "")).replace(" ", "")
                    first = [bytes.fromhex(text)[:1]] if text and len(text) % 2 == 0 else []
                    if alt["offset"] + INT_TYPES[alt["type"]][0] > alt["max_length"]:
                        self.problem(join_pointer(aptr, "offset"), "the length field does not fit max_length")
                if not first:
                    key = "first_bytes" if alt_kind == "fixed" else "start"
                    self.problem(aptr, f"each alternative framing needs '{key}': the first byte picks the framing")
                for byte in first:
                    if byte in starts:
                        self.problem(aptr, f"first byte {byte.hex().upper()} already picks alternative {starts[byte]}")
                    starts.setdefault(byte, i)
            return
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
