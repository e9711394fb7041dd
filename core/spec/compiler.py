"""Compile a checked ``SpecModel`` into construct structs, converters and the ``Spec`` object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import construct as cs

from core.spec import adapters as ad
from core.spec import codecs as vc
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
                return vc.ConstAdapter(sub, f.const, lambda v: f"0x{v:0{width * 2}X}")
            if f.enum:
                return vc.EnumAdapter(sub, f.enum)
            if f.scale is not None or f.offset is not None:
                return vc.ScaleAdapter(sub, f.scale, f.offset)
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
                return vc.ConstAdapter(raw, f.const, lambda v: bytes(v).hex().upper()) if f.const is not None else raw
            sub = vc.StringAdapter(raw, f.size, f.pad, f.align, f.pattern)
            return vc.ConstAdapter(sub, f.const) if f.const is not None else sub
        if kind == "bcd":
            return vc.BcdAdapter(cs.Bytes(f.size or 1), f.size or 1, f.bcd_signed, f.decimals)
        if kind == "ipv4":
            return vc.Ipv4Adapter(cs.Bytes(4))
        if kind == "bits":
            return vc.BitsAdapter(
                int_construct(f.size or 1, False, f.endian), f.bits, (f.size or 1) * 8, self.model.reserved_check
            )
        if kind == "reserved":
            return vc.ReservedAdapter(f.size or 0, f.fill, f.check)
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
        return plain_value(raw)
    return raw


def plain_value(value: Any) -> Any:
    """A computed value as plain data (construct's containers become dicts and lists)."""
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list):
        return [plain_value(v) for v in value]
    return value


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
