"""The compiled model of a spec: what each field is, independent of construct."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

INT_TYPES: dict[str, tuple[int, bool]] = {
    f"{prefix}{bits}": (bits // 8, prefix == "s") for prefix in ("u", "s") for bits in (8, 16, 24, 32, 48, 64)
}
FLOAT_TYPES = {"float32": 4, "float64": 8}
OTHER_TYPES = ("bytes", "string", "bcd", "bits", "ipv4", "reserved", "array", "switch", "checksum")
PRIMITIVE_NAMES = tuple(sorted(INT_TYPES, key=lambda n: (n[0] == "s", int(n[1:])))) + tuple(FLOAT_TYPES) + OTHER_TYPES

#: keys each field type accepts besides name, type, description, default
TYPE_KEYS: dict[str, frozenset[str]] = {
    **{
        name: frozenset({"endian", "enum", "const", "scale", "offset", "unit", "length_of", "adjust"})
        for name in INT_TYPES
    },
    **{name: frozenset({"endian", "unit"}) for name in FLOAT_TYPES},
    "bytes": frozenset({"size", "size_from", "until", "const"}),
    "string": frozenset({"size", "size_from", "until", "pad", "align", "pattern", "const"}),
    "bcd": frozenset({"size", "signed", "decimals", "unit"}),
    "bits": frozenset({"size", "endian", "bits"}),
    "ipv4": frozenset(),
    "reserved": frozenset({"size", "fill", "check"}),
    "array": frozenset({"of", "count", "count_from", "until"}),
    "switch": frozenset({"on", "cases"}),
    "checksum": frozenset({"algorithm", "start", "end", "endian"}),
    "struct": frozenset(),
}
COMMON_KEYS = frozenset({"name", "type", "description", "default"})

TEXT_TYPES = ("str", "int", "decimal", "decimals", "choice", "bool", "line")


@dataclass
class BitModel:
    name: str | None
    bit: int
    width: int = 1
    enum: dict[str, int] | None = None
    parity: str | None = None


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

    @property
    def visible(self) -> bool:
        return not self.hidden

    def switch_key(self, obj: Any) -> Any:
        """The key a switch selects its case by: the value of the field (or bits member) it is on."""
        key = obj[self.switch_on or ""]
        return key[self.switch_member] if self.switch_member is not None else key

    def case_for(self, key: Any) -> StructModel | None:
        if key in self.cases:
            return self.cases[key]
        return self.default_case


@dataclass
class StructModel:
    name: str
    fields: list[FieldModel]
    pointer: str

    @property
    def size(self) -> int | None:
        total = 0
        for f in self.fields:
            if f.size is None:
                return None
            total += f.size
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
