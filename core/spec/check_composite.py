"""Semantic checks of the composite and second-version fields: arrays, switches, computed fields,
checksums and transforms (``process:``). A mixin of ``FieldChecks``, which provides the state they use."""

from __future__ import annotations

import re
from typing import Any

from core.spec import expr as ex
from core.spec.checksums import ALGORITHMS, Crc
from core.spec.problems import Problem, join_pointer
from core.spec.schema_check import did_you_mean
from core.spec.types import FLOAT_TYPES, INT_TYPES, FieldModel, ProcessModel, StructModel


class CompositeChecks:
    """``field_array``, ``field_struct``, ``field_computed``, ``field_switch``, ``field_checksum``, ``process``."""

    type_docs: dict[str, Any]
    raw_cases: dict[int, dict[Any, tuple[StructModel, str]]]
    problems: list[Problem]
    crcs: dict[str, Crc]

    def problem(self, pointer: str, message: str, prefer_key: bool = False) -> None:
        raise NotImplementedError

    def struct_type(self, name: str, pointer: str) -> StructModel | None:
        raise NotImplementedError

    def expression(self, text: Any, pointer: str, extra: frozenset[str] = frozenset()) -> ex.Expr | None:
        raise NotImplementedError

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
        raise NotImplementedError

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
                f"unknown param '{unknown[0]}' of the transform '{name}'; params: {', '.join(known_params)}"
                f"{did_you_mean(unknown[0], list(known_params))}",
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
