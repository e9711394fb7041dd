"""The construct forms of the language's second-version features (see ``core.spec.constructs``).

``ConstructBuilder`` asks :func:`v2_field` first for every field; it answers None for a field it leaves to
the first-version code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import construct as cs

from core.spec import adapters as ad
from core.spec import codecs as vc
from core.spec import constructs as cx
from core.spec import constructs_data as cd
from core.spec.checksums import ALGORITHMS
from core.spec.transforms import TRANSFORMS
from core.spec.types import FieldModel, SpecModel, StructModel

if TYPE_CHECKING:
    from core.spec.compiler import ConstructBuilder


def lookup_for(model: SpecModel) -> Callable[[str, Any], Any]:
    tables = model.tables

    def lookup(table: str, key: Any) -> Any:
        return tables[table].get(key)

    return lookup


def struct_uses_v2(struct: StructModel, seen: set[int] | None = None) -> bool:
    """Whether a struct (or any struct inside it) needs the second-version machinery."""
    seen = seen if seen is not None else set()
    if id(struct) in seen:
        return False
    seen.add(id(struct))
    return any(field_uses_v2(f, seen) for f in struct.fields)


def field_uses_v2(f: FieldModel, seen: set[int]) -> bool:
    if f.variable:
        return True
    if f.kind == "bits" and (f.size or 1) not in (1, 2, 4):
        return True
    if f.kind == "array" and f.element is not None:
        return f.element.size is None or field_uses_v2(f.element, seen)
    if f.kind == "struct" and f.struct is not None:
        return struct_uses_v2(f.struct, seen)
    if f.kind == "switch":
        cases = list(f.cases.values()) + ([f.default_case] if f.default_case else [])
        return any(struct_uses_v2(c, seen) for c in cases)
    return False


def _sized_bytes(builder: ConstructBuilder, f: FieldModel, lookup: Callable[[str, Any], Any]) -> cs.Construct:
    if f.size_expr is not None:
        expr = f.size_expr

        def length(context: Any) -> int:
            size = cx.evaluate(expr, context, lookup)
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ad.FrameError(f"invalid size {size!r} ({expr.text})", expected=">= 0", found=size)
            return size

        return cs.Bytes(length)
    if f.size is not None:
        return cs.Bytes(f.size)
    if f.size_from is not None:
        return cs.Bytes(cs.this[f.size_from])
    return ad.UntilEnd(None, f.end or 0)


def v2_field(builder: ConstructBuilder, f: FieldModel, siblings: dict[str, FieldModel]) -> cs.Construct | None:
    """The construct of a field using a second-version feature, or None to let the first version build it."""
    model = builder.model
    lookup = lookup_for(model)
    kind = f.kind
    if kind == "computed":
        return cx.ComputedValue(f.value_expr, lookup)
    if kind == "int" and f.equals is not None:
        from core.spec.compiler import int_construct

        return cx.EqualsCheck(int_construct(f.size or 1, f.signed, f.endian), f.equals, lookup)
    if kind in ("bytes", "string") and (
        f.size_expr is not None or f.reverse or f.process is not None or f.encoding != "ascii"
    ):
        raw = cs.GreedyBytes if f.process is not None else _sized_bytes(builder, f, lookup)
        if f.reverse:
            raw = cx.ReverseAdapter(raw)
        if f.process is not None:
            raw = _processed(f, raw, lookup)
        if kind == "bytes":
            return raw
        return vc.StringAdapter(raw, None if f.size_expr is not None else f.size, f.pad, f.align, f.pattern, f.encoding)
    if kind == "bcd" and (
        f.size_expr is not None
        or f.endian == "little"
        or f.bcd_sign == "leading_f"
        or f.bcd_invalid != "error"
        or f.bcd_text
    ):
        size: Any = f.size or 0
        if f.size_expr is not None:
            expr = f.size_expr
            size = lambda context: cx.evaluate(expr, context, lookup)  # noqa: E731
        return cd.BcdField(size, f.endian, f.bcd_sign, f.decimals, f.bcd_invalid, f.bcd_text)
    if kind == "bits" and (f.size or 1) not in (1, 2, 4):
        from core.spec.compiler import int_construct

        return vc.BitsAdapter(
            int_construct(f.size or 1, False, f.endian), f.bits, (f.size or 1) * 8, model.reserved_check
        )
    if (
        kind == "array"
        and f.element is not None
        and (
            f.count_expr is not None
            or f.until_expr is not None
            or f.chain is not None
            or f.skip
            or f.stop
            or f.max_count is not None
            or f.element.size is None
        )
    ):
        element = builder.field(f.element, {})
        count = f.count_expr
        if f.count is not None or f.count_from is not None:
            return ad.IndexedArray(f.count if f.count is not None else cs.this[f.count_from], element)
        return cx.VarArray(
            element,
            lookup,
            count=count,
            until=f.until_expr,
            until_end=f.until_end,
            chain=f.chain,
            max_count=f.max_count,
            skip=f.skip,
            stop=f.stop,
            leave=f.end or 0,
        )
    if kind == "switch" and (f.switch_expr is not None or f.switch_mask is not None or f.range_cases or f.value_switch):
        return _switch(builder, f, lookup)
    if kind == "checksum" and (f.over or f.crc is not None):
        from core.spec.compiler import int_construct

        func = f.crc if f.crc is not None else ALGORITHMS[f.algorithm or "sum8"][0]
        sub = int_construct(f.size or 1, False, f.endian)
        if f.over:
            return cd.ChecksumOver(sub, func, f.over, f.algorithm or "checksum")
        return cd.CrcChecksum(sub, func, f.algorithm or "crc", f.start, f.end or 0)
    if kind == "struct" and f.process is not None:
        assert f.struct is not None
        return _processed(f, builder.struct(f.struct), lookup)
    return None


def _processed(f: FieldModel, inner: cs.Construct, lookup: Callable[[str, Any], Any]) -> cs.Construct:
    assert f.process is not None
    process = f.process
    return cd.Processed(
        inner,
        TRANSFORMS[process.transform],
        process.params,
        process.condition,
        process.check,
        lookup,
        f.end or 0,
    )


def _switch(builder: ConstructBuilder, f: FieldModel, lookup: Callable[[str, Any], Any]) -> cs.Construct:
    def body(case: Any) -> cs.Construct:
        if case is None:
            return cx.NoData()
        if isinstance(case, StructModel):
            return builder.struct(case)
        return builder.field(case, {})

    cases = {key: (body(case), case) for key, case in (f.value_cases if f.value_switch else f.cases).items()}
    ranges = [(low, high, body(case), case) for low, high, case in f.range_cases]
    default: tuple[cs.Construct, Any] | None = None
    if f.value_switch and f.has_default_field:
        default = (body(f.default_field), f.default_field)
    elif not f.value_switch and f.default_case is not None:
        default = (body(f.default_case), f.default_case)
    if f.switch_expr is not None:
        expr = f.switch_expr

        def key(context: Any) -> Any:
            return cx.evaluate(expr, context, lookup)

        on_text, segments = expr.text, [f.name] if f.value_switch else []
    else:
        on, member, mask = f.switch_on or "", f.switch_member, f.switch_mask

        def key(context: Any) -> Any:
            value = context.get(on)
            if member is not None:
                value = value.get(member) if isinstance(value, dict) else None
            if mask is not None and isinstance(value, int):
                value = value & mask
            return value

        on_text = ".".join([on] + ([member] if member else [])) + (f" & {mask:#x}" if mask is not None else "")
        segments = [on] + ([member] if member else [])
    return cx.ExprSwitch(key, cases, ranges, default, on_text, segments)
