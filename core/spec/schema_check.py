"""Schema validation of a spec document and the helpers the semantic checks share."""

from __future__ import annotations

import difflib
import json
import re
from decimal import Decimal
from functools import lru_cache
from importlib.resources import files
from typing import Any

import jsonschema

from core.spec.loader import Located
from core.spec.problems import Problem, join_pointer
from core.spec.types import COMMON_KEYS, FLOAT_TYPES, INT_TYPES, TYPE_KEYS


@lru_cache(maxsize=1)
def spec_schema() -> dict[str, Any]:
    return json.loads(files("core.spec").joinpath("schema.json").read_text(encoding="utf-8"))


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown_key_message(key: str, allowed: list[str]) -> str:
    return f"unknown key '{key}'; allowed keys: {', '.join(sorted(allowed))}{did_you_mean(key, sorted(allowed))}"


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _schema_problems(located: Located, error: jsonschema.ValidationError, root: dict[str, Any]) -> list[Problem]:
    pointer = join_pointer("", *error.absolute_path)
    validator = error.validator
    if validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        field_type = error.instance.get("type") if isinstance(error.instance, dict) else None
        if "cases" in allowed and isinstance(field_type, str):
            kind = "int" if field_type in INT_TYPES else "float" if field_type in FLOAT_TYPES else field_type
            if field_type in TYPE_KEYS or kind in (
                "int",
                "float",
            ):  # a binary field: list only the keys its type accepts
                allowed = sorted(COMMON_KEYS | TYPE_KEYS[field_type if kind in ("int", "float") else kind])
        every_key = error.schema.get("properties", {})
        extras = [k for k in error.instance if k not in allowed]
        problems = []
        for key in extras:
            if key in every_key:  # known to the language, just not for this field type
                message = (
                    f"key '{key}' is not allowed for type {field_type}; allowed keys: {', '.join(sorted(allowed))}"
                    f"{did_you_mean(str(key), sorted(allowed))}"
                )
            else:
                message = unknown_key_message(str(key), allowed)
            problems.append(located.problem(join_pointer(pointer, key), message, prefer_key=True))
        return problems
    if validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        key = missing[0] if missing else error.message
        return [located.problem(pointer, f"missing required key '{key}'")]
    if validator == "enum":
        options = ", ".join(str(o) for o in error.validator_value)
        return [located.problem(pointer, f"expected one of {options}, got {error.instance!r}")]
    if validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return [located.problem(pointer, f"expected {expected}, got {_json_type(error.instance)} {error.instance!r}")]
    if validator == "oneOf":
        alternatives = error.validator_value
        required_sets = [s.get("required") for s in alternatives]
        if all(required_sets):
            keys = " or ".join(f"'{r[0]}'" for r in required_sets)
            return [located.problem(pointer, f"exactly one of {keys} is required")]
        if error.context:
            best = jsonschema.exceptions.best_match(error.context)
            return _schema_problems(located, best, root)
    if validator == "maxProperties" and pointer == "/framing":
        kinds = ", ".join(sorted(error.schema.get("properties", {})))
        return [
            located.problem(
                pointer, f"exactly one framing kind is allowed ({kinds}), got {', '.join(map(str, error.instance))}"
            )
        ]
    if validator == "minProperties" and pointer == "/framing":
        kinds = ", ".join(sorted(error.schema.get("properties", {})))
        return [located.problem(pointer, f"one framing kind is required: {kinds}")]
    if validator == "maxItems" and error.validator_value == 0 and "/cases/" in pointer:
        return [located.problem(pointer, f"a case is a type name or [] (no fields), got {error.instance!r}")]
    if validator == "pattern" and error.validator_value == "^[0-9A-Fa-f\\s]*$":
        return [located.problem(pointer, f"expected hex digits, got {error.instance!r}")]
    if validator == "pattern":
        return [located.problem(pointer, f"{error.instance!r} does not match the pattern {error.validator_value}")]
    if validator == "propertyNames" and error.context:
        names = [c.instance for c in error.context]
        return [
            located.problem(
                join_pointer(pointer, n),
                f"invalid name {n!r}: use letters, digits and '_' (not starting with a digit)",
                prefer_key=True,
            )
            for n in names
        ]
    return [located.problem(pointer, error.message)]


def schema_problems(located: Located) -> list[Problem]:
    root = spec_schema()
    validator = jsonschema.Draft202012Validator(root)
    problems: list[Problem] = []
    for error in sorted(validator.iter_errors(located.data), key=lambda e: list(map(str, e.absolute_path))):
        problems.extend(_schema_problems(located, error, root))
    return problems


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    return Decimal(str(value))


def int_range(width: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (8 * width - 1)), (1 << (8 * width - 1)) - 1
    return 0, (1 << (8 * width)) - 1
