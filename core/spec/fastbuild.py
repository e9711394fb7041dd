"""Generated builders for fixed layouts: the values checked field by field, packed with one ``struct.Struct``.

The mirror of ``core.spec.fastpath``. For a message whose layout is fixed (the condition the decode fast path
uses) the generated ``build(values)`` returns the frame's bytes, raises the ``FrameError`` that building through
construct raises, or returns ``None`` when it cannot tell (a value of an unusual type, say); ``Spec.encode``
then builds through construct. Each value has a quick check that accepts only what ``unshape_value`` accepts;
a value failing it goes to ``unshape_value`` itself, so the error (message, path, expected, found) is the one
construct's build gives, and a value the quick check was too strict for falls back to construct. Hidden fields
(constants, reserved bytes) are packed as the bytes the construct field builds; checksums are computed over the
packed frame the way ``ChecksumField`` computes them over the bytes built before it.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NoReturn

from core.errors import FrameError
from core.spec import codecs as vc
from core.spec.checks import int_range
from core.spec.checksums import ALGORITHMS
from core.spec.compiler import ConstructBuilder
from core.spec.fastpath import _FORMATS, _struct_supported
from core.spec.types import FieldModel, MessageModel, SpecModel, StructModel
from core.spec.unshape import check_names, missing_value, unshape_struct, unshape_value


class _Fallback(Exception):
    """The values need the construct path (the quick checks cannot tell)."""


def _missing(path: list[str]) -> NoReturn:
    raise missing_value(path)


def _invalid(f: FieldModel, value: Any, path: list[str]) -> NoReturn:
    """A value failed its quick check: the full validation raises the precise error (or construct builds it)."""
    unshape_value(f, value, path)
    raise _Fallback


def _extra(values: dict[Any, Any], names: frozenset[str], path: list[str]) -> NoReturn:
    check_names(values, names, path)
    raise _Fallback


def _check(top: StructModel, values: Any, path: list[str]) -> None:
    """No layout for the values: the full validation raises the precise error, else construct decides."""
    unshape_struct(top, values, path)


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return None


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TypeError("a bool is not a number")
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _unscale(value: Any, scale: Decimal | None, offset: Decimal | None, lo: int, hi: int) -> int | None:
    try:
        raw = vc.unscale_value(_decimal(value), scale, offset)
    except (FrameError, ArithmeticError, TypeError, ValueError):
        return None
    return raw if lo <= raw <= hi else None


def _bcd(value: Any, size: int, signed: bool, decimals: int | None) -> bytes | None:
    try:
        return vc.bcd_encode(_decimal(value), size, signed, decimals)
    except (FrameError, ArithmeticError, TypeError, ValueError):
        return None


def _ipv4(text: Any) -> bytes | None:
    """The 4 bytes of a dotted address in the form ``ipaddress.IPv4Address`` accepts; None otherwise."""
    if type(text) is not str:
        return None
    parts = text.split(".")
    if len(parts) != 4:
        return None
    for part in parts:
        if not (part.isascii() and part.isdigit() and len(part) <= 3) or (part[0] == "0" and len(part) > 1):
            return None
    try:
        return bytes(map(int, parts))
    except ValueError:  # an octet above 255
        return None


_NUMBERS = frozenset({int, float, Decimal})


class _BuildGen:
    def __init__(self, model: SpecModel, message: str) -> None:
        self.model = model
        self.message = message
        self.constants: dict[str, Any] = {}
        self.order = ">" if model.endian == "big" else "<"
        self.temps = 0
        self.construct = ConstructBuilder(model)

    def const(self, value: Any) -> str:
        name = f"_K{len(self.constants)}"
        self.constants[name] = value
        return name

    def literal(self, value: Any) -> str:
        """Source for a value of the model: repr for plain scalars, a named constant otherwise."""
        if value is None or type(value) in (int, str, bool):
            return repr(value)
        return self.const(value)

    def temp(self, stem: str = "v") -> str:
        self.temps += 1
        return f"{stem}{self.temps}"

    def int_code(self, size: int, signed: bool, endian: str) -> str | None:
        if (size, signed) in _FORMATS and (size == 1 or endian == self.model.endian):
            return _FORMATS[(size, signed)]
        return None

    def pack_int(self, expr: str, size: int, signed: bool, endian: str) -> tuple[str, str]:
        """(pack argument, format) of an integer known to fit."""
        code = self.int_code(size, signed, endian)
        if code is not None:
            return expr, code
        return f"{expr}.to_bytes({size}, {endian!r}, signed={signed})", f"{size}s"

    def field(self, f: FieldModel, src: str, fail: str) -> tuple[list[str], list[str], str]:
        """(statements checking ``src``, pack arguments, format) of one visible field; ``fail`` on a bad value."""
        kind, size = f.kind, f.size or 0
        lines: list[str] = []
        if kind == "int":
            lo, hi = int_range(size, f.signed)
            if f.enum:
                raw = self.temp("r")
                table = self.const(dict(f.enum))
                lines.append(
                    f"{raw} = {table}.get({src}) if type({src}) is str"
                    f" else ({src} if type({src}) is int and {lo} <= {src} <= {hi} else None)"
                )
                lines += [f"if {raw} is None:", f"    {fail}"]
            elif f.scale is not None or f.offset is not None:
                raw = self.temp("r")
                scale, offset = self.literal(f.scale), self.literal(f.offset)
                lines += [
                    f"{raw} = _unscale({src}, {scale}, {offset}, {lo}, {hi})",
                    f"if {raw} is None:",
                    f"    {fail}",
                ]
            else:
                raw = src
                lines += [f"if type({src}) is not int or not {lo} <= {src} <= {hi}:", f"    {fail}"]
            arg, fmt = self.pack_int(raw, size, f.signed, f.endian)
            return lines, [arg], fmt
        if kind == "float":
            lines += [f"if type({src}) not in _NUMBERS:", f"    {fail}"]
            if f.endian == self.model.endian:
                return lines, [f"float({src})"], "f" if size == 4 else "d"
            code = ("<" if f.endian == "little" else ">") + ("f" if size == 4 else "d")
            return lines, [f"_pack({code!r}, float({src}))"], f"{size}s"
        if kind == "bytes":
            raw = self.temp("r")
            lines += [
                f"{raw} = {src} if type({src}) is bytes else _as_bytes({src})",
                f"if {raw} is None or len({raw}) != {size}:",
                f"    {fail}",
            ]
            return lines, [raw], f"{size}s"
        if kind == "string":
            checks = [f"type({src}) is str", f"{src}.isascii()", f"len({src}) <= {size}"]
            if f.pattern:
                checks.append(f"{self.const(re.compile(f.pattern))}.fullmatch({src})")
            if f.pad:
                checks.append(f"not {src}.{'endswith' if f.align == 'left' else 'startswith'}({f.pad!r})")
            lines += [f"if not ({' and '.join(checks)}):", f"    {fail}"]
            arg = f"{src}.encode('ascii')"
            if f.pad != "\x00" or f.align != "left":  # struct pads with NUL bytes on the right by itself
                arg += f".{'ljust' if f.align == 'left' else 'rjust'}({size}, {f.pad.encode('ascii')!r})"
            return lines, [arg], f"{size}s"
        if kind == "bcd":
            raw = self.temp("r")
            lines += [
                f"{raw} = _bcd({src}, {size}, {f.bcd_signed}, {f.decimals!r})",
                f"if {raw} is None:",
                f"    {fail}",
            ]
            return lines, [raw], f"{size}s"
        if kind == "ipv4":
            raw = self.temp("r")
            lines += [f"{raw} = _ipv4({src})", f"if {raw} is None:", f"    {fail}"]
            return lines, [raw], "4s"
        if kind == "bits":
            return self.bits(f, src, fail)
        if kind == "array":
            assert f.element is not None and f.count is not None
            items, item = self.temp("a"), self.temp("e")
            lines += [f"if type({src}) is not list or len({src}) != {f.count}:", f"    {fail}", f"{items} = []"]
            sub_lines, sub_args, sub_fmt = self.field(f.element, item, fail)
            lines.append(f"for {item} in {src}:")
            lines += ["    " + line for line in sub_lines]
            if len(sub_args) == 1:
                lines.append(f"    {items}.append({sub_args[0]})")
            else:
                lines.append(f"    {items} += ({', '.join(sub_args)})")
            return lines, [f"*{items}"], sub_fmt * f.count
        if kind == "struct":
            assert f.struct is not None
            return self.nested(f.struct, src, fail)
        raise AssertionError(kind)

    def bits(self, f: FieldModel, src: str, fail: str) -> tuple[list[str], list[str], str]:
        names = frozenset(b.name for b in f.bits if b.name)
        raw = self.temp("r")
        lines = [f"if type({src}) is not dict or not {src}.keys() <= {self.const(names)}:", f"    {fail}", f"{raw} = 0"]
        parity = None
        for member in f.bits:
            if member.parity:
                parity = member
                continue
            if member.width == 1 and not member.enum:
                lines += [
                    f"b = {src}.get({member.name!r}, False)",
                    "if b is True:",
                    f"    {raw} |= {1 << member.bit:#x}",
                    "elif b is not False:",
                    f"    {fail}",
                ]
                continue
            if member.enum:
                lines.append(f"b = {src}.get({member.name!r}, 0)")
                lines.append(f"b = {self.const(dict(member.enum))}.get(b, -1) if type(b) is str else b")
            else:
                lines.append(f"b = {src}.get({member.name!r}, 0)")
            lines += [
                f"if type(b) is not int or not 0 <= b <= {(1 << member.width) - 1}:",
                f"    {fail}",
                f"{raw} |= b << {member.bit}" if member.bit else f"{raw} |= b",
            ]
        if parity is not None:  # set so that the count of 1-bits is even (or odd)
            test = "" if parity.parity == "even" else "not "
            lines += [f"if {test}{raw}.bit_count() & 1:", f"    {raw} |= {1 << parity.bit:#x}"]
        arg, fmt = self.pack_int(raw, f.size or 1, False, f.endian)
        return lines, [arg], fmt

    def hidden(self, f: FieldModel) -> tuple[str, str]:
        """(pack argument, format) of a field not in the values: the bytes its construct field builds."""
        if f.kind == "checksum":
            return repr(bytes(f.size or 0)), f"{f.size}s"  # filled in after packing
        data = self.construct.field(f, {}).build(None)
        return self.literal(bytes(data)), f"{len(data)}s"

    def value_of(self, f: FieldModel, var: str, path: list[str]) -> str:
        """The statement reading a top-level value the way ``unshape_struct`` does (default, or missing)."""
        if f.has_default:
            return f"{var} = values.get({f.name!r}, {self.literal(f.default)})"
        return f"{var} = values[{f.name!r}] if {f.name!r} in values else _missing({path!r})"

    def nested(self, s: StructModel, src: str, fail: str) -> tuple[list[str], list[str], str]:
        visible = [g for g in s.fields if g.visible]
        names = self.const(frozenset(g.name for g in visible))
        exact = not any(g.has_default for g in visible)  # every name must be there: one comparison checks them
        test = f"{src}.keys() != {names}" if exact else f"not {src}.keys() <= {names}"
        lines = [f"if type({src}) is not dict or {test}:", f"    {fail}"]
        args: list[str] = []
        fmt = ""
        for g in s.fields:
            if g.hidden:
                arg, g_fmt = self.hidden(g)
                args.append(arg)
                fmt += g_fmt
                continue
            var = self.temp()
            if exact:
                lines.append(f"{var} = {src}[{g.name!r}]")
            elif g.has_default:
                lines.append(f"{var} = {src}.get({g.name!r}, {self.literal(g.default)})")
            else:  # a missing name: the validation of the whole field reports it
                lines += [f"{var} = {src}.get({g.name!r}, _MISSING)", f"if {var} is _MISSING:", f"    {fail}"]
            sub_lines, sub_args, sub_fmt = self.field(g, var, fail)
            lines += sub_lines
            args += sub_args
            fmt += sub_fmt
        return lines, args, fmt

    def layout(self, func: str, fields: list[FieldModel], size: int) -> list[str] | None:
        """The source of one layout's builder (``None`` when the packed size is not the message size)."""
        lines: list[str] = []
        args: list[str] = []
        fmt = ""
        offset = 0
        checksums: list[tuple[int, FieldModel]] = []
        names = frozenset(f.name for f in fields if f.visible)
        for f in fields:
            if f.hidden:
                arg, f_fmt = self.hidden(f)
                if f.kind == "checksum":
                    checksums.append((offset, f))
            else:
                var = self.temp()
                path = [self.message, f.name]
                lines.append(self.value_of(f, var, path))
                sub_lines, sub_args, f_fmt = self.field(f, var, f"_invalid({self.const(f)}, {var}, {path!r})")
                lines += sub_lines
                args += sub_args
                offset += f.size or 0
                fmt += f_fmt
                continue
            args.append(arg)
            fmt += f_fmt
            offset += f.size or 0
        packer = struct.Struct(self.order + fmt)
        if packer.size != size or offset != size:
            return None
        known = self.const(names)
        lines += [f"if not values.keys() <= {known}:", f"    _extra(values, {known}, {[self.message]!r})"]
        packed = f"{self.const(packer)}.pack({', '.join(args)})"
        if not checksums:
            lines.append(f"return {packed}")
        else:
            lines.append(f"frame = bytearray({packed})")
            for at, f in checksums:
                func_name = self.const(ALGORITHMS[f.algorithm or "sum8"][0])
                lines.append(
                    f"frame[{at}:{at + (f.size or 0)}] = {func_name}(frame[{f.start}:{f.end}])"
                    f".to_bytes({f.size}, {f.endian!r})"
                )
            lines.append("return bytes(frame)")
        return [f"def {func}(values):", *("    " + line for line in lines), ""]


def generate_fast_builder(model: SpecModel, message: MessageModel) -> tuple[Callable[[Any], bytes | None], str] | None:
    from core.spec.compose import struct_uses_v2

    top = message.struct
    if top is None or top.size is None or not _struct_supported(top, True) or struct_uses_v2(top):
        return None
    switches = [f for f in top.fields if f.kind == "switch"]
    if len(switches) > 1:
        return None
    gen = _BuildGen(model, message.name)
    lines: list[str] = []
    if not switches:
        body = gen.layout("_layout0", top.fields, top.size)
        if body is None:
            return None
        lines += body
        select = ["    layout = _layout0"]
    else:
        switch = switches[0]
        index = top.fields.index(switch)
        on = next(f for f in top.fields if f.name == switch.switch_on)
        member = next((b for b in on.bits if b.name == switch.switch_member), None)
        funcs: dict[int, str] = {}  # one builder per case struct (several keys may share one)
        dispatch: dict[Any, str] = {}
        cases = list(switch.cases.items()) + ([(None, switch.default_case)] if switch.default_case else [])
        for key, case in cases:
            if id(case) not in funcs:
                func = f"_layout{len(funcs)}"
                body = gen.layout(func, top.fields[:index] + case.fields + top.fields[index + 1 :], top.size)
                if body is None:
                    return None
                lines += body
                funcs[id(case)] = func
            if key is not None:
                dispatch[key] = funcs[id(case)]
        default = funcs[id(switch.default_case)] if switch.default_case else "None"
        lines += ["_DISPATCH = {" + ", ".join(f"{k!r}: {v}" for k, v in dispatch.items()) + "}", ""]
        if member is None:  # the key is the value of the field switched on, as unshape_struct reads it
            default_key = gen.literal(on.default) if on.has_default else "None"
            select = [f"    key = values.get({on.name!r}, {default_key})"]
        else:  # the key is one member of a bits field (a member left out is false or 0)
            missing = "False" if member.width == 1 and not member.enum else "0"
            select = [
                f"    bits = values.get({on.name!r})",
                f"    key = bits.get({member.name!r}, {missing}) if type(bits) is dict else None",
            ]
        select += [
            "    try:",
            f"        layout = _DISPATCH.get(key, {default})",
            "    except TypeError:  # an unhashable key: the layout's checks report it",
            f"        layout = {default}",
            "    if layout is None:",
            f"        _check(_TOP, values, {[message.name]!r})",
            "        return None",
        ]
    lines += [
        "def build(values):",
        "    if type(values) is not dict:",
        "        return None",
        *select,
        "    try:",
        "        return layout(values)",
        "    except (_Fallback, struct.error, OverflowError):",
        "        return None",
    ]
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = {
        "struct": struct,
        "_Fallback": _Fallback,
        "_MISSING": object(),
        "_NUMBERS": _NUMBERS,
        "_TOP": top,
        "_missing": _missing,
        "_invalid": _invalid,
        "_extra": _extra,
        "_check": _check,
        "_as_bytes": _as_bytes,
        "_unscale": _unscale,
        "_bcd": _bcd,
        "_ipv4": _ipv4,
        "_pack": struct.pack,
        **gen.constants,
    }
    exec(compile(source, f"<fast builder {model.name}.{message.name}>", "exec"), namespace)
    return namespace["build"], source
