"""Text/line messages: a regex with named groups or fixed columns, converted to typed values.

Compiled into construct as an ``Adapter`` over ``GreedyBytes`` so text messages parse and build like any
other struct.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import construct as cs

from core.errors import FrameError
from core.spec.codecs import decode_ascii
from core.spec.types import TextFieldModel, TextModel


@dataclass
class TextResult:
    values: dict[str, Any]
    flags: list[str]


def _fail(name: str, message: str, expected: Any = None, found: Any = None) -> FrameError:
    error = FrameError(message, expected=expected, found=found)
    error.segments = [name]  # type: ignore[attr-defined]
    return error


def count_decimals(text: str) -> int:
    text = text.strip().replace("_", "")
    match = re.search(r"\.(\d*)", text)
    return len(match.group(1)) if match else 0


class TextCodec:
    def __init__(self, model: TextModel) -> None:
        self.model = model
        self.regex = re.compile(model.regex) if model.regex else None
        self.bool_patterns = {f.name: re.compile(f.match or "") for f in model.fields if f.kind == "bool"}

    # ------------------------------------------------------------------ parse

    def pieces(self, text: str) -> tuple[dict[str, str | None], str, str]:
        """The raw text of every field, the matched line and any skipped prefix."""
        if self.regex is not None:
            match = self.regex.search(text) if self.model.mode == "search" else self.regex.fullmatch(text)
            if match is None:
                raise FrameError(
                    f"the line {text!r} does not match the message's regex", expected=self.regex.pattern, found=text
                )
            groups = match.groupdict()
            raw = {f.name: (groups.get(f.group) if f.group else match.group(0)) for f in self.model.fields}
            return raw, text[match.start() :], text[: match.start()]
        raw = {}
        for f in self.model.fields:
            if f.columns is None:
                raw[f.name] = text
                continue
            start, end = f.columns
            piece = text[start:end]
            if len(piece) < end - start and not f.optional:
                raise _fail(f.name, f"the line is too short for columns {start}..{end}: {text!r}", end, len(text))
            raw[f.name] = piece or None
        return raw, text, ""

    def convert(self, f: TextFieldModel, piece: str | None, pieces: dict[str, str | None], line: str) -> Any:
        if f.kind == "line":
            return line.strip()
        if f.kind == "bool":
            return bool(self.bool_patterns[f.name].fullmatch((piece if f.group or f.columns else line) or ""))
        if piece is None:
            if f.optional:
                return None
            raise _fail(f.name, "missing value", "a value", None)
        text = piece.replace("_", " ").strip() if f.strip else piece
        if text == "" and f.optional:
            return None
        if f.kind == "str":
            return text
        if f.kind == "int":
            if not re.fullmatch(r"[+-]?\d+", text):
                raise _fail(f.name, f"expected an integer, found {text!r}", "integer", text)
            return int(text)
        if f.kind == "decimals":
            return count_decimals(text)
        if f.kind == "decimal":
            for other, texts in f.null_if.items():
                if (pieces.get(other) or "").strip() in texts:
                    return None
            try:
                value = Decimal(text)
            except InvalidOperation:
                raise _fail(f.name, f"expected a decimal number, found {text!r}", "decimal", text) from None
            if not value.is_finite():
                raise _fail(f.name, f"expected a finite number, found {text!r}", "decimal", text)
            return value
        if f.kind == "choice":
            for label, choice_text in f.choices.items():
                if text == choice_text:
                    return label
            raise _fail(
                f.name,
                f"expected one of {', '.join(f.choices.values())}, found {text!r}",
                list(f.choices.values()),
                text,
            )
        raise AssertionError(f.kind)

    def computed(self, f: TextFieldModel, values: dict[str, Any]) -> Any:
        from core.spec.expr import ExprError

        try:
            return f.value_expr.evaluate(lambda name: values.get(name))
        except ExprError as exc:
            raise _fail(f.name, f"cannot evaluate {f.value_expr.text!r}: {exc}", f.value_expr.text, str(exc)) from None

    def parse(self, data: bytes) -> TextResult:
        text = decode_ascii(bytes(data))
        pieces, line, skipped = self.pieces(text)
        values: dict[str, Any] = {}
        for f in self.model.fields:
            if f.kind == "computed":
                values[f.name] = self.computed(f, values)
            else:
                values[f.name] = self.convert(f, pieces.get(f.name), pieces, line)
        flags = [f"skipped {len(skipped)} junk characters before the message: {skipped!r}"] if skipped else []
        return TextResult(values, flags)

    # ------------------------------------------------------------------ build

    def render(self, f: TextFieldModel, values: dict[str, Any]) -> str:
        if f.kind in ("bool", "line", "decimals", "computed"):
            return ""
        value = values.get(f.name)
        if (
            value is None
            and f.kind == "decimal"
            and f.null_fill
            and any(
                values.get(other) in texts or values.get(other) in [self.label_of(other, t) for t in texts]
                for other, texts in f.null_if.items()
            )
        ):
            decimals = (
                next((values.get(g.name) for g in self.model.fields if g.kind == "decimals" and g.group == f.group), 0)
                or 0
            )
            digits = max((f.width or 1) - (decimals + 1 if decimals else 0), 1)
            text = f.null_fill * digits + ("." + f.null_fill * decimals if decimals else "")
        elif value is None:
            if not f.optional:
                raise _fail(f.name, "missing value", "a value", None)
            return " " * (f.width or 0) if f.columns else ""
        elif f.kind == "choice":
            if value not in f.choices:
                raise _fail(f.name, f"expected one of {', '.join(f.choices)}, got {value!r}", list(f.choices), value)
            text = f.choices[value]
        elif f.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise _fail(f.name, f"expected an integer, got {value!r}", "integer", value)
            text = str(value)
        elif f.kind == "decimal":
            if isinstance(value, bool) or not isinstance(value, (int, Decimal, str, float)):
                raise _fail(f.name, f"expected a number, got {value!r}", "number", value)
            try:
                number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            except (InvalidOperation, ValueError):
                raise _fail(f.name, f"expected a number, got {value!r}", "number", value) from None
            if not number.is_finite():
                raise _fail(f.name, f"expected a finite number, got {value!r}", "number", value)
            decimals = next(
                (values.get(g.name) for g in self.model.fields if g.kind == "decimals" and g.group == f.group), None
            )
            if isinstance(decimals, int) and not isinstance(decimals, bool) and 0 <= decimals <= 20:
                try:
                    number = number.quantize(Decimal(1).scaleb(-decimals))
                except InvalidOperation:
                    raise _fail(f.name, f"{value!r} does not fit {decimals} decimal places", decimals, value) from None
            text = f"{abs(number):f}" if f.width else f"{number:f}"
        else:
            text = str(value)
        if not text.isascii() or any(c in text for c in "\r\n"):
            raise _fail(f.name, f"text must be ASCII on one line, got {text!r}", "ASCII", text)
        if f.width is not None:
            if len(text) > f.width:
                raise _fail(f.name, f"{text!r} is wider than {f.width} characters", f.width, len(text))
            text = text.rjust(f.width, f.pad) if f.align == "right" else text.ljust(f.width, f.pad)
        return f.prefix + text + f.suffix

    def label_of(self, name: str, text: str) -> Any:
        for f in self.model.fields:
            if f.name == name and f.kind == "choice":
                return next((label for label, t in f.choices.items() if t == text), text)
        return text

    def build(self, values: dict[str, Any]) -> bytes:
        rendered = {f.name: self.render(f, values) for f in self.model.fields}
        return self.model.template.format(**rendered).encode("ascii")


class TextAdapter(cs.Adapter):
    def __init__(self, subcon: cs.Construct, model: TextModel) -> None:
        super().__init__(subcon)
        self.codec = TextCodec(model)

    def _decode(self, obj: bytes, context: Any, path: str) -> TextResult:
        return self.codec.parse(obj)

    def _encode(self, obj: Any, context: Any, path: str) -> bytes:
        values = obj.values if isinstance(obj, TextResult) else obj
        return self.codec.build(values)
