"""Generated decoders for variable layouts: Python source that reads a frame field by field at a position.

What Kaitai does with a ``.ksy``, done for a spec at load time: every struct type becomes a function
``(buf, pos, end, parent, root, keys) -> (values, scope, pos)`` that reads its fields in order, with the
checks, expressions (translated by ``core.spec.expr``, never evaluated from text), switches, repetitions,
checksums and transforms written out as straight-line code. ``values`` is what the decode returns (hidden
fields left out), ``scope`` what the struct's expressions read (hidden fields included, the fields of a
flattened case beside the others), as in the construct structs.

The generated ``decode(frame, keys)`` returns ``(values, flags)`` (findings such as an unknown enum value, an
invalid BCD digit or a part left encrypted are flags, with the paths the construct structs give them), and
``None`` for a frame that does not decode: ``Spec.decode`` then runs the construct struct, which gives the
error with its path. Tests check that both agree on every example and on generated frames.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from core.spec import adapters as ad
from core.spec import codecs as vc
from core.spec import constructs_data as cd
from core.spec.checksums import ALGORITHMS
from core.spec.compiler import plain_value
from core.spec.expr import HELPERS, Expr
from core.spec.transforms import TRANSFORMS
from core.spec.types import FieldModel, MessageModel, SpecModel, StructModel


class _Fallback(Exception):
    """The frame needs the construct path."""


class _Unsupported(Exception):
    """The layout uses something this generator does not write (the construct path decodes it)."""


def _string(raw: bytes, pad: str, align: str, pattern: Any, encoding: str = "ascii") -> str:
    text = raw.decode(encoding)
    text = text.rstrip(pad) if align == "left" else text.lstrip(pad)
    if pattern is not None and not pattern.fullmatch(text):
        raise _Fallback
    return text


def _where(path: tuple[str, ...]) -> str:
    return " -> ".join(p for p in path if p)


def _bcd2(
    raw: bytes, endian: str, sign: str | None, decimals: int | None, text: bool, invalid: str, ctx: Any, here: Any
) -> Any:
    value, problem = cd.bcd_digits(raw, endian, sign, decimals, text)
    if problem is not None:
        if invalid == "error":
            raise _Fallback  # the construct path reports the error with its path
        ctx[1].append(f"{_where(here)}: {problem}")
    return value


def _unknown(ctx: Any, value: int, enum_name: str, here: Any) -> int:
    ctx[2].append(f"{_where(here)}: unknown value {value} for enum {enum_name}")
    return value


def _bits(value: int, members: Any, total: int, check: bool, ctx: Any, here: Any) -> dict[str, Any]:
    result = vc.bits_decode(value, members, total, check)
    for key, item in result.items():
        if isinstance(item, ad.UnknownValue):
            result[key] = _unknown(ctx, int(item), key, (*here, key))
    return result


class _Kept(bytes):
    """The bytes of a part a transform could not run on (kept as received)."""


def _transform(transform: Any, data: bytes, args: dict[str, Any], ctx: Any, check: bytes, here: Any) -> bytes:
    plain, reason = transform.decode(data, args, ctx[0], check)
    if plain is None:
        ctx[1].append(f"{_where(here)}: {reason or 'not transformed'}")
        return _Kept(data)
    return bytes(plain)


_UNPACK = {
    (2, False, "little"): "<H",
    (2, True, "little"): "<h",
    (4, False, "little"): "<I",
    (4, True, "little"): "<i",
    (8, False, "little"): "<Q",
    (8, True, "little"): "<q",
    (2, False, "big"): ">H",
    (2, True, "big"): ">h",
    (4, False, "big"): ">I",
    (4, True, "big"): ">i",
    (8, False, "big"): ">Q",
    (8, True, "big"): ">q",
}


class _Writer:
    def __init__(self, model: SpecModel, message: str) -> None:
        self.model = model
        self.message = message
        self.constants: dict[str, Any] = {}
        self.functions: dict[int, str] = {}  # id(StructModel or FieldModel) -> function name
        self.bodies: list[list[str]] = []
        self.pending: list[tuple[str, Any]] = []
        self.temps = 0

    def const(self, value: Any) -> str:
        for name, existing in self.constants.items():
            if existing is value:
                return name
        name = f"_K{len(self.constants)}"
        self.constants[name] = value
        return name

    def temp(self, stem: str = "t") -> str:
        self.temps += 1
        return f"{stem}{self.temps}"

    # ------------------------------------------------------------------ expressions

    def expr(self, expression: Expr, extra: dict[str, str] | None = None) -> str:
        extra = extra or {}

        def name_code(name: str) -> str:
            if name in extra:
                return extra[name]
            if name == "_parent":
                return "parent"
            if name == "_root":
                return "root"
            return f"v.get({name!r})"

        return expression.source(name_code, "_lookup")

    # ------------------------------------------------------------------ structs

    def struct_function(self, struct: StructModel) -> str:
        key = id(struct)
        if key in self.functions:
            return self.functions[key]
        name = f"_struct{len(self.functions)}"
        self.functions[key] = name
        lines = [
            f"def {name}(buf, pos, end, parent, root, ctx, up=None, path=()):",
            "    v = {}",
            "    o = {}",
            "    if root is None:",
            "        root = v",
        ]
        by_name = {f.name: f for f in struct.fields}
        for f in struct.fields:
            label = f.name if (f.kind != "switch" or f.value_switch) and not f.flatten else ""
            label = f.type_name if label.startswith("_") else label
            here = f"(*path, {label!r})" if label else "path"
            lines += ["    " + line for line in self.field_block(f, by_name, here)]
        lines.append("    return o, v, pos")
        self.bodies.append(lines)
        return name

    def field_block(self, f: FieldModel, siblings: dict[str, FieldModel], here: str) -> list[str]:
        """Statements reading one field of a struct into ``v`` (scope) and ``o`` (values)."""
        lines: list[str] = [f"s_{f.name} = pos"]
        body: list[str] = []
        region_end = "end"
        if f.length_field is not None:
            length = siblings[f.length_field]
            sub_end = self.temp("e")
            body += [
                f"{sub_end} = pos + v[{length.name!r}] - {length.adjust}",
                f"if {sub_end} < pos or {sub_end} > end:",
                "    raise _Fallback",
            ]
            region_end = sub_end
        read, scope_expr, out_expr = self.read(f, region_end, here)
        body += read
        if f.length_field is not None:
            body += [f"if pos != {region_end}:", "    raise _Fallback"]
        if f.kind == "switch" and not f.value_switch:
            pass  # ``read`` merged the case into v and o itself
        elif f.flatten:
            pass
        else:
            body.append(f"v[{f.name!r}] = {scope_expr}")
            if f.visible or f.shown:
                body.append(f"o[{f.name!r}] = {out_expr}")
        if f.condition is not None:
            lines.append(f"if {self.expr(f.condition)}:")
            lines += ["    " + line for line in body]
            lines.append("else:")
            lines.append(f"    v[{f.name!r}] = None")
            if f.visible or f.shown:
                lines.append(f"    o[{f.name!r}] = None")
        else:
            lines += body
        lines.append(f"e_{f.name} = pos")
        return lines

    def read(self, f: FieldModel, end: str, here: str) -> tuple[list[str], str, str]:
        """(statements, scope value, output value) reading one field at ``pos`` up to ``end``."""
        kind = f.kind
        x = self.temp("x")
        if kind == "computed":
            return [f"{x} = {self.expr(f.value_expr)}"], x, f"_plain_value({x})"
        if kind == "int":
            lines = self.int_read(x, f.size or 1, f.signed, f.endian, end)
            if f.const is not None:
                lines += [f"if {x} != {f.const!r}:", "    raise _Fallback"]
            elif f.equals is not None:
                lines += [f"if {x} != {self.expr(f.equals)}:", "    raise _Fallback"]
            elif f.enum:
                table = self.const({value: label for label, value in f.enum.items()})
                y = self.temp("y")
                lines += [
                    f"{y} = {table}.get({x}, _MISSING)",
                    f"{x} = _unknown(ctx, {x}, {f.enum_name or f.name!r}, {here}) if {y} is _MISSING else {y}",
                ]
            elif f.scale is not None or f.offset is not None:
                lines.append(f"{x} = _scale({x}, {self.const(f.scale)}, {self.const(f.offset)})")
            return lines, x, x
        if kind == "float":
            code = ("<" if f.endian == "little" else ">") + ("f" if f.size == 4 else "d")
            size = f.size or 4
            return (
                [
                    f"if pos + {size} > {end}:",
                    "    raise _Fallback",
                    f"{x} = _unpack_from({code!r}, buf, pos)[0]",
                    f"pos += {size}",
                ],
                x,
                x,
            )
        if kind in ("bytes", "string"):
            lines = self.bytes_read(x, f, end, here)
            if kind == "bytes":
                if f.const is not None:
                    lines += [f"if {x} != {self.const(f.const)}:", "    raise _Fallback"]
                return lines, x, x
            pattern = self.const(__import__("re").compile(f.pattern)) if f.pattern else "None"
            lines.append(f"{x} = _string({x}, {f.pad!r}, {f.align!r}, {pattern}, {f.encoding!r})")
            if f.const is not None:
                lines += [f"if {x} != {f.const!r}:", "    raise _Fallback"]
            return lines, x, x
        if kind == "bcd":
            lines = self.sized_raw(x, f, end)
            if (
                f.variable
                or f.endian == "little"
                or f.bcd_sign == "leading_f"
                or f.bcd_text
                or f.bcd_invalid != "error"
            ):
                lines.append(
                    f"{x} = _bcd2({x}, {f.endian!r}, {f.bcd_sign!r}, {f.decimals!r}, {f.bcd_text},"
                    f" {f.bcd_invalid!r}, ctx, {here})"
                )
            else:
                lines.append(f"{x} = _bcd({x}, {f.bcd_signed}, {f.decimals!r})")
            return lines, x, x
        if kind == "ipv4":
            return (
                [
                    f"if pos + 4 > {end}:",
                    "    raise _Fallback",
                    f"{x} = '%d.%d.%d.%d' % tuple(buf[pos:pos + 4])",
                    "pos += 4",
                ],
                x,
                x,
            )
        if kind == "bits":
            lines = self.int_read(x, f.size or 1, False, f.endian, end)
            members = self.const(f.bits)
            lines.append(f"{x} = _bits({x}, {members}, {(f.size or 1) * 8}, {self.model.reserved_check}, ctx, {here})")
            return lines, x, x
        if kind == "reserved":
            size = f.size or 0
            lines = [f"if pos + {size} > {end}:", "    raise _Fallback"]
            if f.check:
                lines += [f"if buf[pos:pos + {size}] != {self.const(bytes([f.fill]) * size)}:", "    raise _Fallback"]
            lines += [f"pos += {size}", f"{x} = None"]
            return lines, x, x
        if kind == "checksum":
            return self.checksum_read(x, f, end), x, x
        if kind == "struct":
            return self.struct_read(x, f, end, here)
        if kind == "array":
            return self.array_read(x, f, end, here)
        if kind == "switch":
            return self.switch_read(x, f, end, here)
        raise _Unsupported(kind)

    def int_read(self, x: str, size: int, signed: bool, endian: str, end: str) -> list[str]:
        lines = [f"if pos + {size} > {end}:", "    raise _Fallback"]
        if size == 1 and not signed:
            lines.append(f"{x} = buf[pos]")
        elif (size, signed, endian) in _UNPACK:
            packer = self.const(struct.Struct(_UNPACK[(size, signed, endian)]))
            lines.append(f"{x} = {packer}.unpack_from(buf, pos)[0]")
        else:
            lines.append(f"{x} = int.from_bytes(buf[pos:pos + {size}], {endian!r}, signed={signed})")
        lines.append(f"pos += {size}")
        return lines

    def sized_raw(self, x: str, f: FieldModel, end: str) -> list[str]:
        """Statements reading the raw bytes of a bytes, string or bcd field into ``x``."""
        if f.size_expr is not None:
            n = self.temp("n")
            size_lines = [
                f"{n} = {self.expr(f.size_expr)}",
                f"if type({n}) is not int or {n} < 0:",
                "    raise _Fallback",
            ]
        elif f.size is not None:
            n, size_lines = str(f.size), []
        elif f.size_from is not None:
            n, size_lines = f"v[{f.size_from!r}]", []
        else:  # until the end of the region, less the fixed fields after it
            n = self.temp("n")
            size_lines = [f"{n} = {end} - {f.end or 0} - pos", f"if {n} < 0:", "    raise _Fallback"]
        return size_lines + [
            f"if pos + {n} > {end}:",
            "    raise _Fallback",
            f"{x} = bytes(buf[pos:pos + {n}])",
            f"pos += {n}",
        ]

    def bytes_read(self, x: str, f: FieldModel, end: str, here: str) -> list[str]:
        if f.process is not None:
            lines = [
                f"{x} = bytes(buf[pos:{end} - {f.end or 0}])",
                f"if pos > {end} - {f.end or 0}:",
                "    raise _Fallback",
                f"pos = {end} - {f.end or 0}",
            ]
            if f.reverse:
                lines.append(f"{x} = {x}[::-1]")
            return lines + self.process_lines(x, f, here)
        lines = self.sized_raw(x, f, end)
        if f.reverse:
            lines.append(f"{x} = {x}[::-1]")
        return lines

    def process_lines(self, x: str, f: FieldModel, here: str) -> list[str]:
        assert f.process is not None
        process = f.process
        transform = self.const(TRANSFORMS[process.transform])
        args = ", ".join(
            f"{key!r}: {self.expr(value) if isinstance(value, Expr) else repr(value)}"
            for key, value in process.params.items()
        )
        call = f"{x} = _transform({transform}, {x}, {{{args}}}, ctx, {process.check!r}, {here})"
        if process.condition is None:
            return [call]
        return [f"if {self.expr(process.condition)}:", "    " + call]

    def checksum_read(self, x: str, f: FieldModel, end: str) -> list[str]:
        lines = self.int_read(x, f.size or 1, False, f.endian, end)
        func = self.const(f.crc if f.crc is not None else ALGORITHMS[f.algorithm or "sum8"][0])
        span = f"buf[s_{f.over[0]}:e_{f.over[-1]}]" if f.over else f"buf[{f.start}:{f.end}]"
        lines += [f"if {func}({span}) != {x}:", "    raise _Fallback"]
        return lines

    def struct_read(self, x: str, f: FieldModel, end: str, here: str) -> tuple[list[str], str, str]:
        assert f.struct is not None
        func = self.struct_function(f.struct)
        lines: list[str] = []
        if f.process is not None:
            data = self.temp("d")
            limit = f"{end} - {f.end or 0}"
            lines += [
                f"if pos > {limit}:",
                "    raise _Fallback",
                f"{data} = bytes(buf[pos:{limit}])",
                f"pos = {limit}",
            ]
            lines += self.process_lines(data, f, here)
            o, s, p = self.temp("o"), self.temp("s"), self.temp("p")
            lines += [
                f"if type({data}) is _Kept:",
                f"    {o} = bytes({data})",
                *([f"    v[{f.name!r}] = {o}", f"    o[{f.name!r}] = {o}"] if f.flatten else []),
                "else:",
                f"    {o}, {s}, {p} = {func}({data}, 0, len({data}), v, root, ctx, None, {here})",
                f"    if {p} != len({data}):",
                "        raise _Fallback",
                *([f"    v[{f.name!r}] = {o}", f"    v.update({s})", f"    o.update({o})"] if f.flatten else []),
            ]
            return lines, o, o
        o, s = self.temp("o"), self.temp("s")
        limit = f"{end} - {f.end or 0}" if f.until_end else end
        lines.append(f"{o}, {s}, pos = {func}(buf, pos, {limit}, v, root, ctx, None, {here})")
        if f.flatten:
            lines += [f"v[{f.name!r}] = {o}", f"v.update({s})", f"o.update({o})"]
        return lines, o, o

    def element_function(self, element: FieldModel) -> str:
        """A function reading one value (an array element, a switch case): (value, scope value, pos)."""
        key = id(element)
        if key in self.functions:
            return self.functions[key]
        name = f"_value{len(self.functions)}"
        self.functions[key] = name
        read, scope_expr, out_expr = self.read(element, "end", "path")
        lines = [f"def {name}(buf, pos, end, v, root, ctx, parent=None, path=()):"]
        lines += ["    " + line for line in read]
        lines.append(f"    return {out_expr}, {scope_expr}, pos")
        self.bodies.append(lines)
        return name

    def array_read(self, x: str, f: FieldModel, end: str, here: str) -> tuple[list[str], str, str]:
        element = f.element
        assert element is not None
        item_func = self.element_function(element)
        limit = f"{end} - {f.end or 0}" if f.until_end else end
        items, scopes = self.temp("a"), self.temp("b")
        lines = [f"{items} = []", f"{scopes} = []"]
        count = None
        if f.count is not None:
            count = str(f.count)
        elif f.count_from is not None:
            count = f"v[{f.count_from!r}]"
        elif f.count_expr is not None:
            count = self.temp("c")
            lines += [
                f"{count} = {self.expr(f.count_expr)}",
                f"if type({count}) is not int or {count} < 0:",
                "    raise _Fallback",
            ]
        lines.append("while True:")
        loop: list[str] = []
        if f.skip:
            loop += [f"while pos < {limit} and buf[pos] in {self.const(frozenset(f.skip))}:", "    pos += 1"]
        if f.until_end:
            loop += [f"if pos >= {limit}:", "    break"]
            for marker in f.stop:
                loop += [f"if buf.startswith({marker!r}, pos):", "    break"]
        elif count is not None:
            loop += [f"if len({items}) >= {count}:", "    break"]
        elif f.chain is not None:
            loop += [f"if {scopes} and not ({scopes}[-1] >> {f.chain}) & 1:", "    break"]
        if f.max_count is not None:
            loop += [f"if len({items}) >= {f.max_count}:", "    raise _Fallback"]
        item, scope_item = self.temp("i"), self.temp("j")
        loop.append(
            f"{item}, {scope_item}, pos = {item_func}(buf, pos, {limit}, v, root, ctx, parent, (*{here}, str(len({items}))))"
        )
        loop += [f"{items}.append({item})", f"{scopes}.append({scope_item})"]
        if f.until_expr is not None:
            condition = self.expr(f.until_expr, {"item": scope_item, "index": f"(len({items}) - 1)"})
            loop += [f"if {condition}:", "    break"]
        lines += ["    " + line for line in loop]
        lines += [f"if pos > {limit}:", "    raise _Fallback"]
        return lines, scopes, items

    def case_function(self, case: Any, flattened: bool) -> str:
        if case is None:
            return "_no_case"
        if isinstance(case, StructModel):
            return self.struct_function(case)
        if case.kind == "struct" and case.struct is not None and not case.process:
            return self.struct_function(case.struct)
        return self.element_function(case)

    def switch_read(self, x: str, f: FieldModel, end: str, here: str) -> tuple[list[str], str, str]:
        if f.switch_expr is not None:
            key = self.expr(f.switch_expr)
        else:
            key = f"v.get({f.switch_on!r})"
            if f.switch_member is not None:
                key = f"_x_attr({key}, {f.switch_member!r})"
            if f.switch_mask is not None:
                key = f"({key} & {f.switch_mask})"
        cases: dict[Any, Any] = f.value_cases if f.value_switch else f.cases
        table = {k: self.case_function(c, not f.value_switch) for k, c in cases.items()}
        dispatch = self.const_source_table(table)
        if f.value_switch:
            default = self.case_function(f.default_field, False) if f.has_default_field else "None"
        else:
            default = self.case_function(f.default_case, True) if f.default_case is not None else "None"
        k, func = self.temp("k"), self.temp("f")
        lines = [f"{k} = {key}", f"{func} = _select({dispatch}, {k}, {self.const(self.range_table(f))}, {default})"]
        o, s = self.temp("o"), self.temp("s")
        lines.append(f"{o}, {s}, pos = {func}(buf, pos, end, v, root, ctx, parent, {here})")
        if f.value_switch:
            return lines, s, o
        lines += [f"v[{f.name!r}] = {o}", f"v.update({s})", f"o.update({o})"]
        return lines, o, o

    def range_table(self, f: FieldModel) -> list[tuple[int, int, str]]:
        ranges = []
        for low, high, case in f.range_cases:
            ranges.append((low, high, self.case_function(case, not f.value_switch)))
        return ranges

    def const_source_table(self, table: dict[Any, str]) -> str:
        name = f"_D{len(self.pending)}"
        self.pending.append((name, table))
        return name


def _select(table: dict[Any, Any], key: Any, ranges: list[tuple[int, int, Any]], default: Any) -> Any:
    try:
        found = table.get(key)
    except TypeError:
        found = None
    if found is not None:
        return found
    if isinstance(key, int) and not isinstance(key, bool):
        for low, high, func in ranges:
            if low <= key <= high:
                return func
    if default is None:
        raise _Fallback
    return default


def _no_case(
    buf: Any, pos: int, end: int, v: Any, root: Any, ctx: Any, up: Any = None, path: Any = ()
) -> tuple[None, None, int]:
    return None, None, pos


def generate_variable_path(model: SpecModel, message: MessageModel) -> tuple[Callable[[bytes, Any], Any], str] | None:
    """The generated decoder of a binary message, or None when it uses something not generated."""
    top = message.struct
    if top is None:
        return None
    writer = _Writer(model, message.name)
    try:
        entry = writer.struct_function(top)
    except _Unsupported:
        return None
    lines: list[str] = []
    for body in reversed(writer.bodies):
        lines += body + [""]
    names: dict[str, Any] = {}
    for name, table in writer.pending:  # dispatch tables name functions: bound once they exist
        lines.append(f"{name} = {{" + ", ".join(f"{k!r}: {v}" for k, v in table.items()) + "}")
    for name, value in writer.constants.items():
        if (
            isinstance(value, list)
            and value
            and isinstance(value[0], tuple)
            and len(value[0]) == 3
            and isinstance(value[0][2], str)
        ):
            lines.append(f"{name} = [" + ", ".join(f"({lo}, {hi}, {fn})" for lo, hi, fn in value) + "]")
        else:
            names[name] = value
    lines += [
        "",
        "def decode(frame, keys=None):",
        "    try:",
        "        ctx = (keys, [], [])",
        f"        o, v, pos = {entry}(frame, 0, len(frame), None, None, ctx, None, ({message.name!r},))",
        "    except Exception:  # any failure: the construct path decodes (or reports) the frame",
        "        return None",
        "    if pos != len(frame):",
        "        return None",
        "    return o, ctx[1] + ctx[2]",
    ]
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = {
        "_Fallback": _Fallback,
        "_MISSING": object(),
        "_string": _string,
        "_bcd": vc.bcd_decode,
        "_bcd2": _bcd2,
        "_bits": _bits,
        "_scale": vc.scale_value,
        "_unpack_from": struct.unpack_from,
        "_transform": _transform,
        "_unknown": _unknown,
        "_Kept": _Kept,
        "_select": _select,
        "_no_case": _no_case,
        "_lookup": _lookup_of(model),
        "_plain_value": plain_value,
        **HELPERS,
        **names,
    }
    exec(compile(source, f"<variable fast path {model.name}.{message.name}>", "exec"), namespace)
    return namespace["decode"], source


def _lookup_of(model: SpecModel) -> Callable[[str, Any], Any]:
    tables = model.tables

    def lookup(table: str, key: Any) -> Any:
        return tables[table].get(key)

    return lookup
