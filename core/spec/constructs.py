"""construct building blocks of the language's second version: expressions, conditions, variable repetition,
switches on expressions, checksums over named fields and transforms.

They keep the rules of ``core.spec.adapters``: every failure is a ``FrameError`` whose path the ``Field``
wrappers complete. Two things travel in construct's ``_params`` (the context of the outermost ``parse``):
``_flags``, the list that findings which are no error (an invalid BCD digit, a part left encrypted) are
appended to, and ``_path``, the labels of the fields being parsed, which such a finding is reported under.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import construct as cs

from core.errors import FrameError
from core.spec import adapters as ad
from core.spec.expr import Expr, ExprError

Lookup = Callable[[str, Any], Any]


class CaseResult:
    """What a v2 switch parses: the value and the case (a ``FieldModel``, ``StructModel`` or None) that read it."""

    __slots__ = ("case", "value")

    def __init__(self, value: Any, case: Any) -> None:
        self.value, self.case = value, case

    def __repr__(self) -> str:
        return f"CaseResult({self.value!r})"


def flag(context: Any, message: str) -> None:
    """Add a finding to the decode's flags, under the path of the field being parsed."""
    params = context.get("_params") or {}
    flags = params.get("_flags")
    if flags is None:
        return
    path = params.get("_path") or []
    flags.append(f"{' -> '.join(str(p) for p in path if p != '')}: {message}" if path else message)


def push_path(context: Any, label: str) -> list[str] | None:
    params = context.get("_params") or {}
    path = params.get("_path")
    if path is not None:
        path.append(label)
    return path


def scope_of(context: Any, extra: dict[str, Any] | None = None) -> Callable[[str], Any]:
    """Names of an expression read from a construct context (and ``extra``: item, index, loop values)."""

    def scope(name: str) -> Any:
        if extra is not None and name in extra:
            return extra[name]
        if name == "_parent":
            parent = context.get("_")
            return parent if parent is not None and "_subcons" in parent else None
        if name == "_root":
            return context.get("_root")
        return context.get(name)

    return scope


def evaluate(expr: Expr, context: Any, lookup: Lookup | None, extra: dict[str, Any] | None = None) -> Any:
    try:
        return expr.evaluate(scope_of(context, extra), lookup)
    except ExprError as exc:
        raise FrameError(f"cannot evaluate {expr.text!r}: {exc}", expected=expr.text, found=str(exc)) from None


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, CaseResult) else value


class SpecStruct(cs.Struct):
    """A struct whose context holds plain values: the value a switch read (not its ``CaseResult``), the
    fields of a flattened switch case beside the others, and ``_spans``, where each field begins and ends."""

    def __init__(self, *subcons: cs.Construct, flattened: frozenset[str] = frozenset()) -> None:
        super().__init__(*subcons)
        self.flattened = flattened  # names of the switches whose case fields are flattened

    def _context(self, stream: Any, context: Any) -> Any:
        inner = cs.Container(
            _=context,
            _params=context._params,
            _root=None,
            _parsing=context._parsing,
            _building=context._building,
            _sizing=context._sizing,
            _subcons=self._subcons,
            _io=stream,
            _index=context.get("_index", None),
            _spans={},
        )
        inner._root = context._.get("_root", inner) if "_" in context and context._ is not None else inner
        if "_subcons" not in context:  # the top level: its root is itself
            inner._root = inner
        return inner

    def _settle(self, context: Any, name: str, value: Any) -> None:
        plain = _plain(value)
        context[name] = plain
        if name in self.flattened and isinstance(plain, dict):
            for key, item in plain.items():
                if not key.startswith("_"):
                    context[key] = item

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        obj = cs.Container()
        context = self._context(stream, context)
        spans = context._spans
        for sc in self.subcons:
            start = stream.tell()
            subobj = sc._parsereport(stream, context, path)
            if sc.name:
                obj[sc.name] = subobj
                spans[sc.name] = (start, stream.tell())
                self._settle(context, sc.name, subobj)
        return obj

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if obj is None:
            obj = cs.Container()
        context = self._context(stream, context)
        context.update(obj)
        for name in self.flattened:
            if isinstance(obj.get(name), dict):
                context.update({k: v for k, v in obj[name].items() if not k.startswith("_")})
        spans = context._spans
        for sc in self.subcons:
            subobj = obj.get(sc.name, None) if sc.flagbuildnone else obj[sc.name]
            if sc.name:
                context[sc.name] = subobj
            start = stream.tell()
            buildret = sc._build(subobj, stream, context, path)
            if sc.name:
                spans[sc.name] = (start, stream.tell())
                self._settle(context, sc.name, buildret)
        return context

    def _sizeof(self, context: Any, path: str) -> int:
        raise cs.SizeofError("variable size", path=path)

    def _emitparse(self, code: Any) -> str:
        raise NotImplementedError("a v2 struct has no construct-compiled form (its fast path is generated)")

    def _emitbuild(self, code: Any) -> str:
        raise NotImplementedError("a v2 struct has no construct-compiled form")


class Conditional(cs.Subconstruct):
    """A field read only when its condition holds; otherwise it is None and takes no bytes."""

    def __init__(self, subcon: cs.Construct, condition: Expr, lookup: Lookup | None) -> None:
        super().__init__(subcon)
        self.condition, self.lookup = condition, lookup
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        if not evaluate(self.condition, context, self.lookup):
            return None
        return self.subcon._parsereport(stream, context, path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if not evaluate(self.condition, context, self.lookup):
            if obj is not None:
                raise FrameError(
                    f"the field is absent ({self.condition.text!r} is false) but a value is given: {obj!r}",
                    expected=None,
                    found=obj,
                )
            return None
        if obj is None and not self.subcon.flagbuildnone:
            raise FrameError(
                f"missing value ({self.condition.text!r} is true, so the field is there)", expected="a value"
            )
        return self.subcon._build(obj, stream, context, path)

    def _sizeof(self, context: Any, path: str) -> int:
        raise cs.SizeofError("conditional", path=path)


class ComputedValue(cs.Construct):
    """A value computed from the fields before it; takes no bytes, and is computed again on build."""

    def __init__(self, expr: Expr, lookup: Lookup | None) -> None:
        super().__init__()
        self.expr, self.lookup = expr, lookup
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        return evaluate(self.expr, context, self.lookup)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        return evaluate(self.expr, context, self.lookup)

    def _sizeof(self, context: Any, path: str) -> int:
        return 0


class EqualsCheck(cs.Subconstruct):
    """An integer that must equal an expression (the repeated L field of M-Bus); computed on build."""

    def __init__(self, subcon: cs.Construct, expr: Expr, lookup: Lookup | None) -> None:
        super().__init__(subcon)
        self.expr, self.lookup = expr, lookup
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        found = self.subcon._parsereport(stream, context, path)
        expected = evaluate(self.expr, context, self.lookup)
        if found != expected:
            raise FrameError(
                f"expected {expected!r} ({self.expr.text}), found {found!r}", expected=expected, found=found
            )
        return found

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        value = evaluate(self.expr, context, self.lookup)
        self.subcon._build(value, stream, context, path)
        return value


class ReverseAdapter(cs.Adapter):
    """Bytes stored last byte first (M-Bus plain text, say)."""

    def _decode(self, obj: bytes, context: Any, path: str) -> bytes:
        return bytes(obj)[::-1]

    def _encode(self, obj: bytes, context: Any, path: str) -> bytes:
        return bytes(obj)[::-1]


class VarArray(cs.Construct):
    """Elements repeated by a count expression, until the end of the region (fillers skipped, stopping at
    a marker), until a condition on the last element (``item``, ``index``), or while a chain bit is set."""

    def __init__(
        self,
        subcon: cs.Construct,
        lookup: Lookup | None,
        count: Expr | None = None,
        until: Expr | None = None,
        until_end: bool = False,
        chain: int | None = None,
        max_count: int | None = None,
        skip: frozenset[int] = frozenset(),
        stop: tuple[bytes, ...] = (),
        leave: int = 0,
    ) -> None:
        super().__init__()
        self.subcon, self.lookup = subcon, lookup
        self.count, self.until, self.until_end, self.chain = count, until, until_end, chain
        self.max_count, self.skip, self.stop, self.leave = max_count, skip, stop, leave

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        data = stream.getvalue() if hasattr(stream, "getvalue") else None
        end = ad._remaining(stream) + stream.tell() - self.leave
        count = evaluate(self.count, context, self.lookup) if self.count is not None else None
        if count is not None and (not isinstance(count, int) or count < 0):
            raise FrameError(f"invalid element count {count!r}", expected=">= 0", found=count)
        items = cs.ListContainer()
        while True:
            if self.skip and data is not None:
                here = stream.tell()
                while here < end and data[here] in self.skip:
                    here += 1
                stream.seek(here)
            if self.until_end:
                here = stream.tell()
                if here >= end:
                    break
                if data is not None and any(data.startswith(m, here) for m in self.stop):
                    break
            elif (count is not None and len(items) >= count) or (
                self.chain is not None and items and not (items[-1] >> self.chain) & 1
            ):
                break
            if self.max_count is not None and len(items) >= self.max_count:
                raise FrameError(
                    f"more than {self.max_count} elements", expected=f"at most {self.max_count}", found=len(items) + 1
                )
            context._index = len(items)
            path_list = push_path(context, str(len(items)))
            try:
                item = self.subcon._parsereport(stream, context, path)
            except FrameError as exc:
                ad.prefix_path(exc, str(len(items)))
                raise
            except cs.ConstructError as exc:
                error = ad.from_construct(exc)
                ad.prefix_path(error, str(len(items)))
                raise error from exc
            finally:
                if path_list is not None:
                    path_list.pop()
            items.append(item)
            if self.until is not None and evaluate(
                self.until, context, self.lookup, {"item": _plain(item), "index": len(items) - 1}
            ):
                break
        if stream.tell() > end:
            raise FrameError("the last element does not fit the frame", expected=end, found=stream.tell())
        return items

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if not isinstance(obj, list):
            raise FrameError(f"expected a list, got {obj!r}", expected="list", found=obj)
        if self.count is not None:
            count = evaluate(self.count, context, self.lookup)
            if len(obj) != count:
                raise FrameError(f"expected {count} elements, got {len(obj)}", expected=count, found=len(obj))
        if self.max_count is not None and len(obj) > self.max_count:
            raise FrameError(
                f"more than {self.max_count} elements", expected=f"at most {self.max_count}", found=len(obj)
            )
        if self.chain is not None:
            for index, item in enumerate(obj):
                last = index == len(obj) - 1
                if isinstance(item, int) and bool((item >> self.chain) & 1) == last:
                    raise FrameError(
                        f"element {index}: bit {self.chain} must be {'clear' if last else 'set'} in a chain",
                        expected="clear" if last else "set",
                        found=item,
                    )
        for index, item in enumerate(obj):
            context._index = index
            try:
                self.subcon._build(item, stream, context, path)
            except FrameError as exc:
                ad.prefix_path(exc, str(index))
                raise
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise cs.SizeofError("variable size", path=path)


class ExprSwitch(cs.Construct):
    """A switch whose key is an expression (or a field, masked), with range cases and value cases.

    ``cases`` maps a key to ``(construct, case model)``; ``ranges`` holds ``(low, high, construct, model)``;
    ``default`` is ``(construct, model)`` or None (then an unmatched key is a FrameError).
    """

    def __init__(
        self,
        key: Callable[[Any], Any],
        cases: dict[Any, tuple[cs.Construct, Any]],
        ranges: list[tuple[int, int, cs.Construct, Any]],
        default: tuple[cs.Construct, Any] | None,
        on_text: str,
        segments: list[str],
    ) -> None:
        super().__init__()
        self.key, self.cases, self.ranges, self.default = key, cases, ranges, default
        self.on_text, self.segments = on_text, segments
        self.flagbuildnone = all(c.flagbuildnone for c, _ in cases.values())

    def select(self, context: Any) -> tuple[cs.Construct, Any]:
        key = self.key(context)
        try:
            if key in self.cases:
                return self.cases[key]
        except TypeError:
            pass
        if isinstance(key, int) and not isinstance(key, bool):
            for low, high, construct_, model in self.ranges:
                if low <= key <= high:
                    return construct_, model
        if self.default is not None:
            return self.default
        shown = f"0x{key:02X}" if isinstance(key, int) and not isinstance(key, bool) else repr(key)
        keys = [str(k) for k in self.cases] + [f"{lo:#x}..{hi:#x}" for lo, hi, _, _ in self.ranges]
        error = FrameError(
            f"no layout for {self.on_text} {shown}; expected one of {', '.join(keys)}",
            expected=", ".join(keys),
            found=shown,
        )
        error.segments = list(self.segments)  # type: ignore[attr-defined]
        raise error

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        construct_, model = self.select(context)
        return CaseResult(construct_._parsereport(stream, context, path), model)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        construct_, _ = self.select(context)
        return construct_._build(obj, stream, context, path)

    def _sizeof(self, context: Any, path: str) -> int:
        raise cs.SizeofError("variable size", path=path)


class NoData(cs.Construct):
    """The ``[]`` case of a value switch: no bytes, the value None."""

    def __init__(self) -> None:
        super().__init__()
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: str) -> None:
        return None

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> None:
        if obj is not None:
            raise FrameError(f"this case holds no value, got {obj!r}", expected=None, found=obj)
        return None

    def _sizeof(self, context: Any, path: str) -> int:
        return 0
