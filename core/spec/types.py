"""The compiled model of a spec: what each field is, independent of construct."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

INT_TYPES: dict[str, tuple[int, bool]] = {
    f"{prefix}{bits}": (bits // 8, prefix == "s") for prefix in ("u", "s") for bits in (8, 16, 24, 32, 48, 64)
}
FLOAT_TYPES = {"float32": 4, "float64": 8}
OTHER_TYPES = ("bytes", "string", "bcd", "bits", "ipv4", "reserved", "array", "switch", "checksum", "computed")
PRIMITIVE_NAMES = tuple(sorted(INT_TYPES, key=lambda n: (n[0] == "s", int(n[1:])))) + tuple(FLOAT_TYPES) + OTHER_TYPES

#: keys each field type accepts besides name, type, description, default
TYPE_KEYS: dict[str, frozenset[str]] = {
    **{
        name: frozenset({"endian", "enum", "const", "scale", "offset", "unit", "length_of", "adjust", "equals"})
        for name in INT_TYPES
    },
    **{name: frozenset({"endian", "unit"}) for name in FLOAT_TYPES},
    "bytes": frozenset({"size", "size_from", "until", "const", "reverse", "process"}),
    "string": frozenset({"size", "size_from", "until", "pad", "align", "pattern", "const", "reverse", "encoding"}),
    "bcd": frozenset({"size", "signed", "decimals", "unit", "endian", "sign", "invalid", "text"}),
    "bits": frozenset({"size", "endian", "bits"}),
    "ipv4": frozenset(),
    "reserved": frozenset({"size", "fill", "check"}),
    "array": frozenset({"of", "count", "count_from", "until", "chain", "max", "skip", "stop"}),
    "switch": frozenset({"on", "cases", "mask"}),
    "checksum": frozenset({"algorithm", "start", "end", "endian", "over"}),
    "computed": frozenset({"value", "unit"}),
    "struct": frozenset({"process", "flatten"}),
}
COMMON_KEYS = frozenset({"name", "type", "description", "default", "if", "show"})

TEXT_TYPES = ("str", "int", "decimal", "decimals", "choice", "bool", "line", "computed")


@dataclass
class BitModel:
    name: str | None
    bit: int
    width: int = 1
    enum: dict[str, int] | None = None
    parity: str | None = None


@dataclass
class ProcessModel:
    """A transform of a field's bytes before its type reads them (``process:``)."""

    transform: str
    params: dict[str, Any] = field(default_factory=dict)  # name -> Expr (or a literal)
    condition: Any = None  # Expr: the transform applies only when it is true
    check: bytes = b""  # the transformed bytes must start with these (a wrong key fails it)


@dataclass
class FieldModel:
    name: str
    kind: str
    pointer: str
    type_name: str = ""
    size: int | None = None  # fixed byte size, None when variable
    endian: str = "big"
    signed: bool = False
    enum: dict[str, int] | None = None
    enum_name: str = ""
    const: Any = None
    scale: Decimal | None = None
    offset: Decimal | None = None
    unit: str | None = None
    length_of: str | None = None
    adjust: int = 0
    size_from: str | None = None
    until_end: bool = False
    count: int | None = None
    count_from: str | None = None
    pad: str = "\x00"
    align: str = "left"
    pattern: str | None = None
    bcd_signed: bool = False
    decimals: int | None = None
    bits: list[BitModel] = field(default_factory=list)
    fill: int = 0
    check: bool = True
    element: FieldModel | None = None
    struct: StructModel | None = None
    switch_on: str | None = None  # the field switched on
    switch_member: str | None = None  # with ``on: field.member``: the bits member switched on
    cases: dict[Any, StructModel] = field(default_factory=dict)
    default_case: StructModel | None = None
    algorithm: str | None = None
    start: int = 0
    end: int | None = None
    default: Any = None
    has_default: bool = False
    hidden: bool = False
    length_field: str | None = None  # set on the target of a length field
    computed_from: str | None = None  # set on a count/size field: the field whose length it holds
    computed_kind: str | None = None  # "count" | "size" | "length"
    # ---- language v2 (expressions are ``core.spec.expr.Expr``)
    condition: Any = None  # ``if``: the field is there only when it is true (else its value is None)
    value_expr: Any = None  # ``computed``: the value
    equals: Any = None  # the value must equal this expression; computed on build
    size_expr: Any = None  # ``size`` written as an expression
    count_expr: Any = None  # ``count`` written as an expression
    until_expr: Any = None  # ``until`` written as an expression (``item``, ``index``)
    chain: int | None = None  # array elements follow while this bit of the previous one is set
    max_count: int | None = None
    skip: frozenset[int] = frozenset()  # filler bytes skipped before array elements
    stop: tuple[bytes, ...] = ()  # an array ends before any of these markers
    switch_expr: Any = None  # ``on`` written as an expression
    switch_mask: int | None = None
    range_cases: list[tuple[int, int, Any]] = field(default_factory=list)  # (low, high, case) of ``a..b`` keys
    value_switch: bool = False  # a case is a primitive or inline field: the value is the case's value
    value_cases: dict[Any, FieldModel | None] = field(default_factory=dict)
    default_field: FieldModel | None = None
    has_default_field: bool = False
    over: list[str] = field(default_factory=list)  # checksum over these earlier fields
    crc: Any = None  # a parametrised CRC (``core.spec.checksums.Crc``)
    reverse: bool = False
    bcd_sign: str | None = None  # None | "trailing" (C/D/F nibble) | "leading_f" (F as the top nibble: negative)
    bcd_invalid: str = "error"  # "error" | "flag": an invalid digit is a FrameError, or a null value and a flag
    process: ProcessModel | None = None
    shown: bool = False  # a constant (or other hidden field) shown in the values
    bcd_text: bool = False  # the digits as text (leading zeros kept)
    encoding: str = "ascii"  # of a string: ascii | latin1
    flatten: bool = False  # a struct field whose values sit beside the enclosing ones

    @property
    def visible(self) -> bool:
        return not self.hidden

    @property
    def fixed_size(self) -> int | None:
        """The bytes the field always takes (None when that varies: a conditional field, say); ``size`` is
        its size when it is there."""
        return None if self.condition is not None else self.size

    @property
    def variable(self) -> bool:
        """Whether the field needs the v2 machinery (expressions, conditions, variable repetition...)."""
        return (
            self.condition is not None
            or self.kind == "computed"
            or self.equals is not None
            or self.size_expr is not None
            or self.count_expr is not None
            or self.until_expr is not None
            or self.chain is not None
            or bool(self.skip or self.stop)
            or self.switch_expr is not None
            or self.switch_mask is not None
            or bool(self.range_cases)
            or self.value_switch
            or bool(self.over)
            or self.reverse
            or self.bcd_sign == "leading_f"
            or self.bcd_invalid != "error"
            or self.process is not None
            or self.shown
            or self.crc is not None
            or self.bcd_text
            or self.flatten
            or self.encoding != "ascii"
        )

    def switch_key(self, obj: Any) -> Any:
        """The key a switch selects its case by: the value of the field (or bits member) it is on."""
        key = obj[self.switch_on or ""]
        key = key[self.switch_member] if self.switch_member is not None else key
        if self.switch_mask is not None and isinstance(key, int):
            key = key & self.switch_mask
        return key

    def case_for(self, key: Any) -> StructModel | None:
        try:
            if key in self.cases:
                return self.cases[key]
        except TypeError:  # an unhashable key selects no case
            return self.default_case
        if isinstance(key, int) and not isinstance(key, bool):
            for low, high, case in self.range_cases:
                if low <= key <= high:
                    return case
        return self.default_case

    def value_case_for(self, key: Any) -> tuple[bool, FieldModel | None]:
        """(found, field) of a value switch: the field is None for a ``[]`` case."""
        try:
            if key in self.value_cases:
                return True, self.value_cases[key]
        except TypeError:
            return self.has_default_field, self.default_field
        if isinstance(key, int) and not isinstance(key, bool):
            for low, high, case in self.range_cases:
                if low <= key <= high:
                    return True, case
        return self.has_default_field, self.default_field


@dataclass
class StructModel:
    name: str
    fields: list[FieldModel]
    pointer: str
    #: names of the fields of flattened switch cases -> the switch field holding them
    flattened: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int | None:
        total = 0
        for f in self.fields:
            if f.fixed_size is None:
                return None
            total += f.fixed_size
        return total


@dataclass
class TextFieldModel:
    name: str
    kind: str
    pointer: str
    group: str | None = None
    columns: tuple[int, int] | None = None
    optional: bool = False
    strip: bool = True
    width: int | None = None
    pad: str = " "
    align: str = "left"
    prefix: str = ""
    suffix: str = ""
    choices: dict[str, str] = field(default_factory=dict)
    null_if: dict[str, list[str]] = field(default_factory=dict)
    null_fill: str | None = None
    match: str | None = None
    value_expr: Any = None  # ``computed``: an expression over the fields before it


@dataclass
class TextModel:
    regex: str | None
    columns: bool
    mode: str
    template: str
    fields: list[TextFieldModel]


@dataclass
class MessageModel:
    name: str
    direction: str
    pointer: str
    description: str = ""
    struct: StructModel | None = None
    text: TextModel | None = None

    @property
    def size(self) -> int | None:
        return self.struct.size if self.struct is not None else None


@dataclass
class FramingModel:
    kind: str
    options: dict[str, Any]


@dataclass
class SpecModel:
    name: str
    title: str
    endian: str
    reserved_check: bool
    framing: FramingModel
    messages: dict[str, MessageModel]
    examples: list[dict[str, Any]]
    tables: dict[str, Any] = field(default_factory=dict)  # name -> core.spec.tables.Table
