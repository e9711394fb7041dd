"""Compile a checked ``SpecModel`` into construct structs, converters and the ``Spec`` object."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import construct as cs

from core.errors import FrameError
from core.spec import adapters as ad
from core.spec.checks import int_range
from core.spec.types import FieldModel, MessageModel, SpecModel, StructModel

_INT_CLASSES = {
    (1, False, "big"): cs.Int8ub,
    (1, True, "big"): cs.Int8sb,
    (1, False, "little"): cs.Int8ul,
    (1, True, "little"): cs.Int8sl,
    (2, False, "big"): cs.Int16ub,
    (2, True, "big"): cs.Int16sb,
    (2, False, "little"): cs.Int16ul,
    (2, True, "little"): cs.Int16sl,
    (4, False, "big"): cs.Int32ub,
    (4, True, "big"): cs.Int32sb,
    (4, False, "little"): cs.Int32ul,
    (4, True, "little"): cs.Int32sl,
    (8, False, "big"): cs.Int64ub,
    (8, True, "big"): cs.Int64sb,
    (8, False, "little"): cs.Int64ul,
    (8, True, "little"): cs.Int64sl,
}
_FLOAT_CLASSES = {
    (4, "big"): cs.Float32b,
    (4, "little"): cs.Float32l,
    (8, "big"): cs.Float64b,
    (8, "little"): cs.Float64l,
}


def int_construct(size: int, signed: bool, endian: str) -> cs.Construct:
    if (size, signed, endian) in _INT_CLASSES:
        return _INT_CLASSES[(size, signed, endian)]
    return cs.BytesInteger(size, signed=signed, swapped=(endian == "little"))


def field_label(f: FieldModel) -> str:
    if (f.kind == "switch" and not f.value_switch) or f.flatten:
        return ""  # the body's fields are flattened into the enclosing values, so are their paths
    return f.type_name if f.name.startswith("_") else f.name


class ConstructBuilder:
    def __init__(self, model: SpecModel) -> None:
        self.model = model

    def struct(self, struct: StructModel, top_level: bool = False) -> cs.Struct:
        from core.spec import compose
        from core.spec import constructs as cx

        by_name = {f.name: f for f in struct.fields}
        members = []
        v2 = compose.struct_uses_v2(struct)
        for f in struct.fields:
            sub = self.field(f, by_name)
            if f.length_field is not None:
                length = by_name[f.length_field]
                sub = ad.ExactSized(sub, length.name, length.adjust)
            if f.condition is not None:
                sub = cx.Conditional(sub, f.condition, compose.lookup_for(self.model))
            members.append(ad.Field(f.name, sub, field_label(f)))
        if top_level:
            members.append(ad.Field("_end", ad.FrameEnd(), ""))
        if v2:
            flattened = frozenset(
                f.name for f in struct.fields if (f.kind == "switch" and not f.value_switch) or f.flatten
            )
            return cx.SpecStruct(*members, flattened=flattened)
        return cs.Struct(*members)

    def field(self, f: FieldModel, siblings: dict[str, FieldModel]) -> cs.Construct:
        from core.spec.compose import v2_field

        v2 = v2_field(self, f, siblings)
        if v2 is not None:
            return v2
        kind = f.kind
        if kind == "int":
            sub: cs.Construct = int_construct(f.size or 1, f.signed, f.endian)
            if f.computed_from is not None:
                target_name = f.computed_from
                target = siblings[target_name]
                if f.computed_kind == "length":
                    target_con = self.field(target, siblings)
                    adjust = f.adjust

                    def length_of(
                        ctx: Any, _con: cs.Construct = target_con, _name: str = target_name, _adjust: int = adjust
                    ) -> int:
                        params = ctx.get("_params") or {}
                        passed = {k: params[k] for k in ("_flags", "_path", "_keys") if k in params}
                        return len(_con.build(ctx[_name], **passed)) + _adjust

                    sub = ad.BuildComputed(sub, length_of)
                else:

                    def count_of(ctx: Any, _name: str = target_name, _text: bool = target.kind == "string") -> int:
                        value = ctx[_name]
                        return len(value.encode("ascii")) if _text else len(value)

                    sub = ad.BuildComputed(sub, count_of)
                return sub
            if f.const is not None:
                width = f.size or 1
                return ad.ConstAdapter(sub, f.const, lambda v: f"0x{v:0{width * 2}X}")
            if f.enum:
                return ad.EnumAdapter(sub, f.enum)
            if f.scale is not None or f.offset is not None:
                return ad.ScaleAdapter(sub, f.scale, f.offset)
            return sub
        if kind == "float":
            return _FLOAT_CLASSES[(f.size or 4, f.endian)]
        if kind in ("bytes", "string"):
            if f.size is not None:
                raw: cs.Construct = cs.Bytes(f.size)
            elif f.size_from is not None:
                raw = cs.Bytes(cs.this[f.size_from])
            else:
                raw = ad.UntilEnd(None, f.end or 0)
            if kind == "bytes":
                return ad.ConstAdapter(raw, f.const, lambda v: bytes(v).hex().upper()) if f.const is not None else raw
            sub = ad.StringAdapter(raw, f.size, f.pad, f.align, f.pattern)
            return ad.ConstAdapter(sub, f.const) if f.const is not None else sub
        if kind == "bcd":
            return ad.BcdAdapter(cs.Bytes(f.size or 1), f.size or 1, f.bcd_signed, f.decimals)
        if kind == "ipv4":
            return ad.Ipv4Adapter(cs.Bytes(4))
        if kind == "bits":
            return ad.BitsAdapter(
                int_construct(f.size or 1, False, f.endian), f.bits, (f.size or 1) * 8, self.model.reserved_check
            )
        if kind == "reserved":
            return ad.ReservedAdapter(f.size or 0, f.fill, f.check)
        if kind == "array":
            assert f.element is not None
            element = self.field(f.element, {})
            if f.count is not None:
                return ad.IndexedArray(f.count, element)
            if f.count_from is not None:
                return ad.IndexedArray(cs.this[f.count_from], element)
            return ad.UntilEnd(element, f.end or 0)
        if kind == "struct":
            assert f.struct is not None
            return self.struct(f.struct)
        if kind == "switch":
            assert f.switch_on is not None
            cases = {key: self.struct(case) for key, case in f.cases.items()}
            default = (
                self.struct(f.default_case)
                if f.default_case
                else ad.FailCase(f.switch_on, list(f.cases), f.switch_member)
            )
            key = cs.this[f.switch_on] if f.switch_member is None else cs.this[f.switch_on][f.switch_member]
            return ad.LayoutSwitch(key, cases, default)
        if kind == "checksum":
            return ad.ChecksumField(
                int_construct(f.size or 1, False, f.endian), f.algorithm or "sum8", f.start, f.end or 0
            )
        raise AssertionError(f"unhandled field kind {kind}")


# ---------------------------------------------------------------------- values <-> construct objects


def shape_struct(struct: StructModel, obj: Any, path: list[str], flags: list[str]) -> dict[str, Any]:
    from core.spec.constructs import CaseResult

    values: dict[str, Any] = {}
    for f in struct.fields:
        if f.hidden and not f.shown:
            continue
        raw = obj[f.name]
        if isinstance(raw, CaseResult):  # a v2 switch: it knows the case that read it
            if raw.case is None:
                values[f.name] = None
            elif f.value_switch:
                values[f.name] = shape_value(raw.case, raw.value, path + [f.name], flags)
            else:
                values.update(shape_struct(raw.case, raw.value, path, flags))
            continue
        if f.kind == "switch":
            case = f.case_for(f.switch_key(obj))
            if case is not None:
                values.update(shape_struct(case, raw, path, flags))
            continue
        if f.flatten and isinstance(raw, dict):
            values.update(shape_struct(f.struct, raw, path, flags))  # type: ignore[arg-type]
            continue
        if raw is None and (f.condition is not None or f.kind in ("bcd", "computed")):
            values[f.name] = None
            continue
        values[f.name] = shape_value(f, raw, path + [f.name], flags)
    return values


def _flag_unknown(value: ad.UnknownValue, enum_name: str, path: list[str], flags: list[str]) -> int:
    flags.append(f"{' -> '.join(path)}: unknown value {int(value)} for enum {enum_name}")
    return int(value)


def shape_value(f: FieldModel, raw: Any, path: list[str], flags: list[str]) -> Any:
    kind = f.kind
    if kind == "int":
        if isinstance(raw, ad.UnknownValue):
            return _flag_unknown(raw, f.enum_name or f.name, path, flags)
        return raw
    if kind == "struct":
        assert f.struct is not None
        if isinstance(raw, (bytes, bytearray)):  # a processed part left as received (no key, say)
            return bytes(raw)
        return shape_struct(f.struct, raw, path, flags)
    if kind == "array":
        assert f.element is not None
        return [shape_value(f.element, item, path + [str(i)], flags) for i, item in enumerate(raw)]
    if kind == "bits":
        result = {}
        for key, value in raw.items():
            result[key] = (
                _flag_unknown(value, key, path + [key], flags) if isinstance(value, ad.UnknownValue) else value
            )
        return result
    if kind == "bytes":
        return bytes(raw)
    if kind == "computed":
        return _plain_value(raw)
    return raw


def _plain_value(value: Any) -> Any:
    """A computed value as plain data (construct's containers become dicts and lists)."""
    if isinstance(value, dict):
        return {k: _plain_value(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list):
        return [_plain_value(v) for v in value]
    return value


def _fail(path: list[str], message: str, expected: Any = None, found: Any = None) -> FrameError:
    error = FrameError(f"{' -> '.join(path)}: {message}", path=" -> ".join(path), expected=expected, found=found)
    return error


def unshape_struct(
    struct: StructModel, values: Any, path: list[str], allowed: set[str] | None = None
) -> dict[str, Any]:
    if not isinstance(values, dict):
        raise _fail(
            path, f"expected a mapping of values, got {type(values).__name__}", "mapping", type(values).__name__
        )
    obj: dict[str, Any] = {}
    names = {f.name for f in struct.fields if (f.visible or f.shown) and (f.kind != "switch" or f.value_switch)}
    computed: dict[str, Any] = {}
    for f in struct.fields:
        if f.kind == "computed":
            computed[f.name] = _computed_value(f, obj, computed)
            continue
        if f.hidden:
            continue
        if f.condition is not None and values.get(f.name) is None:
            obj[f.name] = None  # absent: the construct's condition decides whether that is right
            continue
        if f.kind == "switch" and (f.value_switch or f.switch_expr is not None):
            unshape_v2_switch(f, values, obj, path, names, computed)
            continue
        if f.flatten and f.struct is not None:
            used: set[str] = set()
            obj[f.name] = unshape_struct(f.struct, values, path, allowed=used)
            names |= used
            names.discard(f.name)
            continue
        if f.kind == "switch":
            key = f.switch_key(obj)
            case = f.case_for(key)
            if case is None:
                raise _fail(
                    path + [f.switch_on or ""] + ([f.switch_member] if f.switch_member else []),
                    f"no layout for {key!r}; expected one of {', '.join(map(str, f.cases))}",
                    ", ".join(map(str, f.cases)),
                    key,
                )
            used = set()
            obj[f.name] = unshape_struct(case, values, path, allowed=used)
            names |= used
            continue
        if f.name in values:
            value = values[f.name]
        elif f.has_default:
            value = f.default
        else:
            raise missing_value(path + [f.name])
        obj[f.name] = unshape_value(f, value, path + [f.name])
    if allowed is None:
        check_names(values, names, path)
    else:
        allowed |= names  # a flattened part: the caller checks the names, these among them
    return obj


def _computed_value(f: FieldModel, obj: dict[str, Any], computed: dict[str, Any]) -> Any:
    """A computed field's value from the values built so far (a switch on it needs it); None if it fails."""
    from core.spec.expr import ExprError

    scope = {**_flat(obj), **obj, **computed}
    try:
        return f.value_expr.evaluate(lambda name: scope.get(name))
    except ExprError:
        return None  # construct computes it again and reports the failure with its path


def _flat(obj: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for value in obj.values():
        if isinstance(value, dict):
            flat.update(value)
    return flat


def _switch_key_of(f: FieldModel, obj: dict[str, Any], flat: dict[str, Any]) -> Any:
    if f.switch_expr is None:
        return f.switch_key(obj)
    from core.spec.expr import ExprError

    scope = {**flat, **obj}
    try:
        return f.switch_expr.evaluate(lambda name: scope.get(name), None)
    except ExprError as exc:
        raise _fail([f.name], f"cannot evaluate {f.switch_expr.text!r}: {exc}", f.switch_expr.text, str(exc)) from None


def unshape_v2_switch(
    f: FieldModel,
    values: dict[str, Any],
    obj: dict[str, Any],
    path: list[str],
    names: set[str],
    computed: dict[str, Any] | None = None,
) -> None:
    """The build value of a switch on an expression or with value cases (the case is chosen from ``obj``)."""
    flat = {**_flat(obj), **(computed or {})}
    key = _switch_key_of(f, obj, flat)
    if f.value_switch:
        found, case = f.value_case_for(key)
        if not found:
            raise _fail(path + [f.name], f"no layout for {key!r}", [str(k) for k in f.value_cases], key)
        value = values.get(f.name)
        obj[f.name] = None if case is None else unshape_value(case, value, path + [f.name])
        return
    struct = f.case_for(key)
    if struct is None:
        raise _fail(path + [f.name], f"no layout for {key!r}", [str(k) for k in f.cases], key)
    used: set[str] = set()
    obj[f.name] = unshape_struct(struct, values, path, allowed=used)
    names |= used


def missing_value(path: list[str]) -> FrameError:
    """The error for a value the values leave out (and that has no default)."""
    return _fail(path, "missing value", "a value", None)


def check_names(values: dict[Any, Any], names: set[str] | frozenset[str], path: list[str]) -> None:
    """Values named like no field of the struct are an error."""
    extra = sorted(set(values) - names)
    if extra:
        raise _fail(
            path,
            f"unknown value name(s) {', '.join(map(str, extra))}; expected: {', '.join(sorted(names))}",
            sorted(names),
            extra,
        )


def _as_int(value: Any, path: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, f"expected an integer, got {value!r}", "integer", value)
    return value


def _as_decimal(value: Any, path: list[str]) -> Decimal:
    if isinstance(value, bool):
        raise _fail(path, f"expected a number, got {value!r}", "number", value)
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise _fail(path, f"expected a number, got {value!r}", "number", value) from None


def unshape_value(f: FieldModel, value: Any, path: list[str]) -> Any:
    kind = f.kind
    try:
        if kind == "int":
            lo, hi = int_range(f.size or 1, f.signed)
            if f.enum:
                if isinstance(value, str):
                    if value not in f.enum:
                        raise _fail(path, f"expected one of {', '.join(f.enum)}, got {value!r}", list(f.enum), value)
                    return value
                number = _as_int(value, path)
            elif f.scale is not None or f.offset is not None:
                number = ad.unscale_value(_as_decimal(value, path), f.scale, f.offset)
                if not lo <= number <= hi:
                    raise _fail(path, f"{value} is out of range for {f.type_name} after scaling", f"{lo}..{hi}", number)
                return _as_decimal(value, path)
            else:
                number = _as_int(value, path)
            if not lo <= number <= hi:
                raise _fail(path, f"{number} does not fit {f.type_name} ({lo}..{hi})", f"{lo}..{hi}", number)
            return number
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
                raise _fail(path, f"expected a number, got {value!r}", "number", value)
            return float(value)
        if kind == "bytes":
            if isinstance(value, str):
                try:
                    value = bytes.fromhex(value)
                except ValueError:
                    raise _fail(path, f"expected hex digits, got {value!r}", "hex", value) from None
            if not isinstance(value, (bytes, bytearray)):
                raise _fail(path, f"expected bytes or hex text, got {value!r}", "bytes", value)
            if f.size is not None and len(value) != f.size:
                raise _fail(path, f"expected {f.size} bytes, got {len(value)}", f.size, len(value))
            return bytes(value)
        if kind == "string":
            if not isinstance(value, str) or not (value.isascii() or f.encoding != "ascii"):
                raise _fail(path, f"expected ASCII text, got {value!r}", "ASCII text", value)
            if f.size is not None and len(value) > f.size:
                raise _fail(path, f"text {value!r} is longer than {f.size} characters", f.size, len(value))
            if f.pattern and not re.fullmatch(f.pattern, value):
                raise _fail(path, f"expected text matching {f.pattern!r}, got {value!r}", f.pattern, value)
            if f.pad and ad.strip_padding(value, f.pad, f.align) != value:
                raise _fail(path, f"text {value!r} ends with the pad character {f.pad!r}", "no padding", value)
            return value
        if kind == "bcd" and f.bcd_text:
            if not isinstance(value, str):
                raise _fail(path, f"expected the digits as text, got {value!r}", "digits", value)
            return value
        if kind == "bcd":
            exact = _as_decimal(value, path)
            if f.size is not None and f.bcd_sign != "leading_f":
                ad.bcd_encode(exact, f.size, f.bcd_signed, f.decimals)
            return exact
        if kind == "ipv4":
            try:
                ipaddress.IPv4Address(value)
            except (ValueError, TypeError):
                raise _fail(path, f"expected a dotted IPv4 address, got {value!r}", "a.b.c.d", value) from None
            return value
        if kind == "bits":
            if not isinstance(value, dict):
                raise _fail(path, f"expected a mapping of bit names, got {value!r}", "mapping", value)
            members = {b.name: b for b in f.bits if b.name}
            extra = sorted(set(value) - set(members))
            if extra:
                raise _fail(
                    path,
                    f"unknown bit name(s) {', '.join(map(str, extra))}; expected: {', '.join(members)}",
                    list(members),
                    extra,
                )
            result = {}
            for name, member in members.items():
                bit_value = value.get(name, False if member.width == 1 and not member.enum else 0)
                if member.enum and isinstance(bit_value, str):
                    if bit_value not in member.enum:
                        raise _fail(
                            path + [name],
                            f"expected one of {', '.join(member.enum)}, got {bit_value!r}",
                            list(member.enum),
                            bit_value,
                        )
                elif member.width == 1 and not member.enum:
                    if not isinstance(bit_value, bool):
                        raise _fail(path + [name], f"expected true or false, got {bit_value!r}", "bool", bit_value)
                else:
                    number = _as_int(bit_value, path + [name])
                    if not 0 <= number < 1 << member.width:
                        raise _fail(
                            path + [name],
                            f"{number} does not fit {member.width} bits",
                            f"0..{(1 << member.width) - 1}",
                            number,
                        )
                result[name] = bit_value
            return result
        if kind == "array":
            assert f.element is not None
            if not isinstance(value, list):
                raise _fail(path, f"expected a list, got {value!r}", "list", value)
            if f.count is not None and len(value) != f.count:
                raise _fail(path, f"expected {f.count} elements, got {len(value)}", f.count, len(value))
            return [unshape_value(f.element, item, path + [str(i)]) for i, item in enumerate(value)]
        if kind == "struct":
            assert f.struct is not None
            if f.process is not None and isinstance(value, (bytes, bytearray)):
                return bytes(value)
            return unshape_struct(f.struct, value, path)
        if kind == "computed":
            return value
    except FrameError as exc:
        if not exc.path:
            exc.path = " -> ".join(path)
        raise
    raise AssertionError(f"unhandled field kind {kind}")


@dataclass
class MessageStructs:
    """The construct forms of one message."""

    plain: cs.Construct
    compiled: cs.Construct | None
    fast: Callable[[bytes], tuple[dict[str, Any], list[str]] | None] | None = None
    fast_source: str | None = None
    fast_build: Callable[[Any], bytes | None] | None = None
    fast_build_source: str | None = None
    #: the generated decoder of a variable layout: (frame, keys) -> (values, flags) or None
    fast_keys: Callable[[bytes, Any], tuple[dict[str, Any], list[str]] | None] | None = None


@dataclass
class MessageInfo:
    name: str
    direction: str
    kind: str  # "binary" | "text"
    size: int | None
    description: str = ""
    units: dict[str, str] = field(default_factory=dict)


def units_of(struct: StructModel | None, prefix: str = "") -> dict[str, str]:
    units: dict[str, str] = {}
    if struct is None:
        return units
    for f in struct.fields:
        if f.unit:
            units[prefix + f.name] = f.unit
        if f.kind == "struct":
            units.update(units_of(f.struct, f"{prefix}{f.name}."))
        if f.kind == "switch":
            for case in list(f.cases.values()) + ([f.default_case] if f.default_case else []):
                units.update(units_of(case, prefix))
    return units


def message_info(message: MessageModel) -> MessageInfo:
    return MessageInfo(
        name=message.name,
        direction=message.direction,
        kind="text" if message.text else "binary",
        size=message.size,
        description=message.description,
        units=units_of(message.struct),
    )


def compile_message(model: SpecModel, message: MessageModel) -> MessageStructs:
    from core.spec.fastbuild import generate_fast_builder
    from core.spec.fastpath import generate_fast_path
    from core.spec.text import TextAdapter

    if message.text is not None:
        plain: cs.Construct = TextAdapter(cs.GreedyBytes, message.text)
    else:
        assert message.struct is not None
        plain = ConstructBuilder(model).struct(message.struct, top_level=True)
    try:
        compiled: cs.Construct | None = plain.compile()
    except Exception:  # construct cannot generate code for every layout; the plain struct still works
        compiled = None
    structs = MessageStructs(plain=plain, compiled=compiled)
    if message.struct is not None:
        generated = generate_fast_path(model, message)
        if generated is not None:
            structs.fast, structs.fast_source = generated
        else:
            from core.spec.fastvar import generate_variable_path

            variable = generate_variable_path(model, message)
            if variable is not None:
                decode, structs.fast_source = variable
                structs.fast_keys = decode
                structs.fast = lambda frame, _decode=decode: _decode(frame, None)
        builder = generate_fast_builder(model, message)
        if builder is not None:
            structs.fast_build, structs.fast_build_source = builder
    return structs
