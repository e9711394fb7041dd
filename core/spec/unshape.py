"""From a message's plain values back to what its construct struct builds: the checks and conversions of
encoding (``Spec.encode``), shared by the construct path and the generated fast builder."""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from core.errors import FrameError
from core.spec import codecs as vc
from core.spec.checks import int_range
from core.spec.types import FieldModel, StructModel


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
                number = vc.unscale_value(_as_decimal(value, path), f.scale, f.offset)
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
            if f.pad and vc.strip_padding(value, f.pad, f.align) != value:
                raise _fail(path, f"text {value!r} ends with the pad character {f.pad!r}", "no padding", value)
            return value
        if kind == "bcd" and f.bcd_text:
            if not isinstance(value, str):
                raise _fail(path, f"expected the digits as text, got {value!r}", "digits", value)
            return value
        if kind == "bcd":
            exact = _as_decimal(value, path)
            if f.size is not None and f.bcd_sign != "leading_f":
                vc.bcd_encode(exact, f.size, f.bcd_signed, f.decimals)
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
