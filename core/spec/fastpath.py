"""Generated decoders for fixed layouts: one ``struct.Struct.unpack_from`` per frame and direct dict building.

The generated function returns ``(values, flags)`` for a frame that decodes cleanly and ``None`` for anything
else (wrong size, unknown switch key, failed check); ``Spec.decode`` then runs the construct struct, which
produces the precise error with its field path. Tests check that it agrees with the construct structs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from core.errors import FrameError
from core.spec import adapters as ad
from core.spec import codecs as vc
from core.spec.checksums import ALGORITHMS
from core.spec.types import FieldModel, MessageModel, SpecModel, StructModel

_FORMATS = {
    (1, False): "B",
    (1, True): "b",
    (2, False): "H",
    (2, True): "h",
    (4, False): "I",
    (4, True): "i",
    (8, False): "Q",
    (8, True): "q",
}


class _Fallback(Exception):
    """The frame needs the construct path (it is malformed or unusual)."""


def _require(condition: bool) -> None:
    if not condition:
        raise _Fallback


def _unknown(flags: list[str], value: int, enum_name: str, path: str) -> int:
    flags.append(f"{path}: unknown value {value} for enum {enum_name}")
    return value


def _string(raw: bytes, pad: str, align: str, pattern: Any) -> str:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise _Fallback from None
    text = text.rstrip(pad) if align == "left" else text.lstrip(pad)
    if pattern is not None and not pattern.fullmatch(text):
        raise _Fallback
    return text


def _call(func: Callable[..., Any], *args: Any) -> Any:
    try:
        return func(*args)
    except FrameError:
        raise _Fallback from None


def _bits(value: int, members: Any, total: int, check: bool, flags: list[str], path: str) -> dict[str, Any]:
    try:
        result = vc.bits_decode(value, members, total, check)
    except FrameError:
        raise _Fallback from None
    for key, item in result.items():
        if isinstance(item, ad.UnknownValue):
            result[key] = _unknown(flags, int(item), key, f"{path} -> {key}")
    return result


def _checksum(frame: bytes, func: Callable[[bytes], int], start: int, end: int, found: int) -> None:
    if func(frame[start:end]) != found:
        raise _Fallback


def _supported(f: FieldModel, top: bool) -> bool:
    if f.size is None or f.length_field or f.computed_from or f.until_end or f.size_from or f.count_from:
        return False
    if f.kind == "switch":
        return top and all(
            _struct_supported(c, False) for c in list(f.cases.values()) + ([f.default_case] if f.default_case else [])
        )
    if f.kind == "array":
        return f.element is not None and _supported(f.element, False)
    if f.kind == "struct":
        return f.struct is not None and _struct_supported(f.struct, False)
    return True


def _struct_supported(s: StructModel, top: bool) -> bool:
    return all(_supported(f, top) for f in s.fields)


class _Gen:
    def __init__(self, model: SpecModel, message: str) -> None:
        self.model = model
        self.message = message
        self.constants: dict[str, Any] = {}
        self.order = ">" if model.endian == "big" else "<"
        self.loop = 0

    def const(self, value: Any) -> str:
        name = f"_K{len(self.constants)}"
        self.constants[name] = value
        return name

    def fmt(self, f: FieldModel) -> tuple[str, int]:
        """struct format and slot count for one field (not arrays/structs)."""
        kind, size = f.kind, f.size or 0
        if kind in ("int", "bits", "checksum"):
            signed = f.signed if kind == "int" else False
            if (size, signed) in _FORMATS and (size == 1 or f.endian == self.model.endian):
                return _FORMATS[(size, signed)], 1
            return f"{size}s", 1
        if kind == "float":
            if f.endian == self.model.endian:
                return ("f" if size == 4 else "d"), 1
            return f"{size}s", 1
        if kind == "ipv4":
            return "4B", 4
        if kind == "reserved" and not f.check:
            return f"{size}x", 0
        return f"{size}s", 1

    def int_expr(self, f: FieldModel, slot: str) -> str:
        fmt, _ = self.fmt(f)
        if fmt.endswith("s"):
            return f"int.from_bytes({slot}, {f.endian!r}, signed={f.signed})"
        return slot

    def path_expr(self, path: list[str]) -> str:
        body = " -> ".join(p if p.startswith("{") else p.replace("{", "{{").replace("}", "}}") for p in path)
        return "f" + repr(body)

    def field(self, f: FieldModel, slot: int | str, path: list[str]) -> tuple[str | None, list[str], str, int]:
        """(value expression or None for hidden, check expressions, format, slots used)."""
        fmt, used = self.fmt(f)
        s = f"t[{slot}]"
        kind = f.kind
        checks: list[str] = []
        if kind == "int":
            raw = self.int_expr(f, s)
            if f.const is not None:
                return None, [f"{raw} == {f.const!r}"], fmt, used
            if f.enum:
                table = self.const({v: k for k, v in f.enum.items()})
                return (
                    f"({table}.get({raw}) or _unknown(flags, {raw}, {f.enum_name or f.name!r}, {self.path_expr(path)}))",
                    checks,
                    fmt,
                    used,
                )
            if f.scale is not None or f.offset is not None:
                return f"_scale({raw}, {self.const(f.scale)}, {self.const(f.offset)})", checks, fmt, used
            return raw, checks, fmt, used
        if kind == "float":
            if fmt.endswith("s"):
                code = ("<" if f.endian == "little" else ">") + ("f" if f.size == 4 else "d")
                return f"_unpack({code!r}, {s})[0]", checks, fmt, used
            return s, checks, fmt, used
        if kind == "bytes":
            if f.const is not None:
                return None, [f"{s} == {self.const(f.const)}"], fmt, used
            return s, checks, fmt, used
        if kind == "string":
            pattern = self.const(__import__("re").compile(f.pattern)) if f.pattern else "None"
            expr = f"_string({s}, {f.pad!r}, {f.align!r}, {pattern})"
            if f.const is not None:
                return None, [f"{expr} == {f.const!r}"], fmt, used
            return expr, checks, fmt, used
        if kind == "bcd":
            return f"_call(_bcd, {s}, {f.bcd_signed}, {f.decimals!r})", checks, fmt, used
        if kind == "ipv4":
            return (
                f"'%d.%d.%d.%d' % t[{slot}:{slot} + 4]"
                if isinstance(slot, int)
                else f"'%d.%d.%d.%d' % t[{slot}:({slot}) + 4]",
                checks,
                fmt,
                used,
            )
        if kind == "bits":
            members = self.const(f.bits)
            return (
                f"_bits({self.int_expr(f, s)}, {members}, {(f.size or 1) * 8}, {self.model.reserved_check}, flags, {self.path_expr(path)})",
                checks,
                fmt,
                used,
            )
        if kind == "reserved":
            if not f.check:
                return None, checks, fmt, used
            return None, [f"{s} == {self.const(bytes([f.fill]) * (f.size or 0))}"], fmt, used
        if kind == "checksum":
            func = self.const(ALGORITHMS[f.algorithm or "sum8"][0])
            return None, [f"_checksum(frame, {func}, {f.start}, {f.end}, {self.int_expr(f, s)}) is None"], fmt, used
        raise AssertionError(kind)

    def fields(
        self, fields: list[FieldModel], slot: int | str, base: int, path: list[str]
    ) -> tuple[list[tuple[str, str]], list[str], str, int]:
        """Items (name, expression), checks, format and slots for a field list starting at ``slot``."""
        items: list[tuple[str, str]] = []
        checks: list[str] = []
        fmt = ""
        offset = 0
        for f in fields:
            at = base + offset if isinstance(slot, int) else f"{slot} + {offset}"
            if f.kind == "struct":
                assert f.struct is not None
                sub_items, sub_checks, sub_fmt, sub_used = self.fields(
                    f.struct.fields, at, 0 if not isinstance(at, int) else at, path + [f.name]
                )
                expr = "{" + ", ".join(f"{k!r}: {v}" for k, v in sub_items) + "}"
                items.append((f.name, expr))
                checks.extend(sub_checks)
                fmt += sub_fmt
                offset += sub_used
                continue
            if f.kind == "array":
                assert f.element is not None and f.count is not None
                var = f"i{self.loop}"
                self.loop += 1
                if f.element.kind == "struct":
                    assert f.element.struct is not None
                    sub_items, sub_checks, sub_fmt, per = self.fields(
                        f.element.struct.fields,
                        var,
                        0,
                        path + [f.name, "{(" + var + " - " + str(at) + ") // " + "PER" + "}"],
                    )
                    element = "{" + ", ".join(f"{k!r}: {v}" for k, v in sub_items) + "}"
                else:
                    value, sub_checks, sub_fmt, per = self.field(
                        f.element, var, path + [f.name, "{(" + var + " - " + str(at) + ") // PER}"]
                    )
                    element = value or "None"
                element = element.replace("// PER}", f"// {max(per, 1)}}}")
                sub_checks = [c.replace("// PER}", f"// {max(per, 1)}}}") for c in sub_checks]
                if sub_checks:
                    element = f"(_require({' and '.join(sub_checks)}), {element})[1]"
                if isinstance(at, int):
                    items.append((f.name, f"[{element} for {var} in range({at}, {at + f.count * per}, {max(per, 1)})]"))
                else:
                    items.append(
                        (f.name, f"[{element} for {var} in range({at}, ({at}) + {f.count * per}, {max(per, 1)})]")
                    )
                fmt += sub_fmt * f.count
                offset += f.count * per
                continue
            value, f_checks, f_fmt, used = self.field(f, at, path + [f.name])
            if value is not None and f.visible:
                items.append((f.name, value))
            checks.extend(f_checks)
            fmt += f_fmt
            offset += used
        return items, checks, fmt, offset


def generate_fast_path(model: SpecModel, message: MessageModel) -> tuple[Callable[[bytes], Any], str] | None:
    from core.spec.compose import struct_uses_v2

    top = message.struct
    if top is None or top.size is None or not _struct_supported(top, True) or struct_uses_v2(top):
        return None
    switches = [f for f in top.fields if f.kind == "switch"]
    if len(switches) > 1:
        return None
    gen = _Gen(model, message.name)
    layouts: list[tuple[Any, list[FieldModel]]] = []
    if switches:
        switch = switches[0]
        index = top.fields.index(switch)
        on = next(f for f in top.fields if f.name == switch.switch_on)
        member = next((b for b in on.bits if b.name == switch.switch_member), None)
        if on.const is not None or not (on.kind == "int" or (on.kind == "bits" and member is not None)):
            return None
        enum = member.enum if member is not None else on.enum
        for key, case in switch.cases.items():
            raw = enum[key] if isinstance(key, str) and enum else key
            layouts.append((raw, top.fields[:index] + case.fields + top.fields[index + 1 :]))
        if switch.default_case is not None:
            layouts.append((None, top.fields[:index] + switch.default_case.fields + top.fields[index + 1 :]))
        on_offset = sum(f.size or 0 for f in top.fields[: top.fields.index(on)])
        on_key = f"int.from_bytes(frame[{on_offset}:{on_offset + (on.size or 1)}], {on.endian!r}, signed={on.signed})"
        if member is not None:  # the key is the member's raw bits
            on_key = f"(({on_key}) >> {member.bit}) & {(1 << member.width) - 1}"
    else:
        layouts.append((None, top.fields))
        on_key = "None"
    lines = []
    dispatch: dict[Any, str] = {}
    default_name = "None"
    for number, (key, fields) in enumerate(layouts):
        items, checks, fmt, _ = gen.fields(fields, 0, 0, [message.name])
        if key is not None and on.kind == "int":  # the dispatch already knows the value switched on
            label = next((k for k, v in (on.enum or {}).items() if v == key), key)
            items = [(name, repr(label) if name == on.name else expr) for name, expr in items]
        packer = struct.Struct(gen.order + fmt)
        if packer.size != top.size:
            return None
        struct_name = gen.const(packer)
        func = f"_layout{number}"
        lines.append(f"def {func}(frame, flags):")
        lines.append(f"    t = {struct_name}.unpack_from(frame, 0)")
        if checks:
            lines.append(f"    if not ({' and '.join(checks)}):")
            lines.append("        raise _Fallback")
        lines.append("    return {" + ", ".join(f"{k!r}: {v}" for k, v in items) + "}")
        lines.append("")
        if key is None:
            default_name = func
        else:
            dispatch[key] = func
    table = "{" + ", ".join(f"{k!r}: {v}" for k, v in dispatch.items()) + "}"
    lines += [
        f"_DISPATCH = {table}",
        "",
        "def decode(frame):",
        f"    if len(frame) != {top.size}:",
        "        return None",
        f"    layout = _DISPATCH.get({on_key}, {default_name})" if switches else f"    layout = {default_name}",
        "    if layout is None:",
        "        return None",
        "    flags = []",
        "    try:",
        "        return layout(frame, flags), flags",
        "    except _Fallback:",
        "        return None",
    ]
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = {
        "_Fallback": _Fallback,
        "_require": _require,
        "_unknown": _unknown,
        "_string": _string,
        "_call": _call,
        "_bits": _bits,
        "_checksum": _checksum,
        "_scale": vc.scale_value,
        "_bcd": vc.bcd_decode,
        "_unpack": struct.unpack,
        **gen.constants,
    }
    exec(compile(source, f"<fast path {model.name}.{message.name}>", "exec"), namespace)
    return namespace["decode"], source
