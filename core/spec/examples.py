"""Run the ``examples:`` of a spec: decode each frame and compare; build downlink values back to bytes."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from core.errors import FrameError
from core.spec.problems import Problem, join_pointer

if TYPE_CHECKING:
    from core.spec.loader import Located
    from core.spec.runtime import Spec


def example_frame(example: dict[str, Any]) -> bytes:
    if "hex" in example:
        return bytes.fromhex("".join(str(example["hex"]).split()))
    return str(example["text"]).encode("latin-1")


def same_value(expected: Any, actual: Any) -> bool:
    """Compare an example's expected value with a decoded one (Decimal by value, bytes as hex)."""
    if isinstance(actual, Decimal):
        if isinstance(expected, bool) or not isinstance(expected, (int, float, str, Decimal)):
            return False
        try:
            return Decimal(repr(expected) if isinstance(expected, float) else str(expected)) == actual
        except InvalidOperation:
            return False
    if isinstance(actual, bytes):
        if isinstance(expected, str):
            try:
                return bytes.fromhex("".join(expected.split())) == actual
            except ValueError:
                return False
        return expected == actual
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, dict):
        return (
            isinstance(expected, dict)
            and expected.keys() == actual.keys()
            and all(same_value(expected[k], actual[k]) for k in actual)
        )
    if isinstance(actual, list):
        return (
            isinstance(expected, list)
            and len(expected) == len(actual)
            and all(same_value(e, a) for e, a in zip(expected, actual, strict=False))
        )
    if isinstance(actual, float):
        return isinstance(expected, (int, float)) and float(expected) == actual
    return type(expected) is type(actual) and expected == actual


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in expected:
            if key not in actual:
                out.append(f"{path}{key}: expected {expected[key]!r}, not decoded")
        for key in actual:
            if key not in expected:
                out.append(f"{path}{key}: decoded {actual[key]!r}, not expected")
            elif not same_value(expected[key], actual[key]):
                out.extend(differences(expected[key], actual[key], f"{path}{key}."))
        return out
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        out = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            if not same_value(e, a):
                out.extend(differences(e, a, f"{path}{i}."))
        return out
    return [f"{path.rstrip('.')}: expected {expected!r}, decoded {actual!r}"]


def run_examples(spec: Spec, located: Located | None = None) -> list[Problem]:
    """Every example problem, located at the example when ``located`` is given."""
    problems: list[Problem] = []
    file = str(spec.path) if spec.path else spec.name

    def report(pointer: str, message: str) -> None:
        if located is not None:
            problems.append(located.problem(pointer, message))
        else:
            problems.append(Problem(file, 1, 1, pointer, message))

    for index, example in enumerate(spec.model.examples):
        pointer = join_pointer("/examples", index)
        label = example.get("name", f"#{index}")
        message = example.get("message")
        if message is not None and message not in spec.messages:
            report(
                join_pointer(pointer, "message"),
                f"example {label!r}: unknown message {message!r}; messages: {', '.join(spec.messages)}",
            )
            continue
        try:
            frame = example_frame(example)
        except UnicodeEncodeError:
            report(
                join_pointer(pointer, "text"),
                f"example {label!r}: the text must be ASCII or Latin-1, got {example.get('text')!r}",
            )
            continue
        except ValueError:
            report(join_pointer(pointer, "hex"), f"example {label!r}: invalid hex {example.get('hex')!r}")
            continue
        expected_error = example.get("error")
        try:
            decoded = spec.decode(frame, message=message)
        except FrameError as exc:
            if (expected_error and type(exc).__name__ == expected_error) or expected_error == "FrameError":
                continue
            report(pointer, f"example {label!r} does not decode: {exc.path}: {exc}")
            continue
        if expected_error:
            report(
                join_pointer(pointer, "error"),
                f"example {label!r}: expected {expected_error}, but it decoded as {decoded.message}",
            )
            continue
        if "values" in example:
            expected = example["values"]
            if not same_value(expected, decoded.values):
                diffs = (
                    differences(expected, decoded.values) if isinstance(expected, dict) else [f"expected {expected!r}"]
                )
                report(
                    join_pointer(pointer, "values"), f"example {label!r} ({decoded.message}): " + "; ".join(diffs[:5])
                )
                continue
        if "flags" in example and list(example["flags"]) != decoded.flags:
            report(
                join_pointer(pointer, "flags"),
                f"example {label!r}: expected flags {example['flags']!r}, got {decoded.flags!r}",
            )
            continue
        if spec.messages[decoded.message].direction == "downlink" and "values" in example:
            try:
                built = spec.encode(decoded.message, example["values"])
            except FrameError as exc:
                report(join_pointer(pointer, "values"), f"example {label!r}: building the values fails: {exc}")
                continue
            if built != frame:
                report(
                    pointer,
                    f"example {label!r}: building the values gives {built.hex().upper()}, expected {frame.hex().upper()}",
                )
    return problems
