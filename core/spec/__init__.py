"""The spec language: YAML device specs compiled into construct structs, framers and fast decoders.

    spec = load_spec("specs/my_meter.yaml")        # raises SpecError(.problems)
    framer = spec.new_framer()
    consumed, frame = framer.decode(buffer)
    msg = spec.decode(frame)                       # Decoded(message, values, flags, raw)
    data = spec.encode("reply", {...})

See docs/spec-language.md for the language itself.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import SpecError
from core.spec.checks import check_spec
from core.spec.examples import run_examples as _run_examples
from core.spec.framing import Framer
from core.spec.loader import Located, load_located
from core.spec.problems import Problem
from core.spec.registry import SpecRegistry
from core.spec.runtime import Decoded, Spec, dumps

__all__ = [
    "Decoded",
    "Framer",
    "Problem",
    "Spec",
    "SpecRegistry",
    "compile_spec",
    "dumps",
    "load_spec",
    "run_examples",
    "validate_spec",
]


def _read(path: str | Path) -> tuple[str | None, list[Problem]]:
    try:
        return Path(path).read_text(encoding="utf-8"), []
    except FileNotFoundError:
        return None, [Problem(str(path), 1, 1, "", f"no such file: {path}")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), 1, 1, "", f"cannot read the spec: {exc}")]


def compile_spec(
    text: str, file: str = "<spec>", path: Path | None = None
) -> tuple[Spec | None, list[Problem], Located]:
    """Schema, semantic checks and compile; returns the spec (or None) and the problems found."""
    located, problems = load_located(text, file)
    if problems:
        return None, problems, located
    try:
        model, problems = check_spec(located)
    except Exception as exc:  # a checker bug must still end as a reported problem, never a traceback
        return None, [located.problem("", f"cannot check the spec: {type(exc).__name__}: {exc}")], located
    if model is None:
        return None, problems, located
    try:
        spec = Spec(model, path)
    except Exception as exc:  # a compile failure is reported as a problem of the spec, never a crash
        return None, [located.problem("", f"cannot compile the spec: {type(exc).__name__}: {exc}")], located
    return spec, [], located


def validate_spec(path: str | Path) -> list[Problem]:
    """Every problem of a spec file: schema, semantics, compile, examples. Empty when it is valid."""
    text, problems = _read(path)
    if text is None:
        return problems
    spec, problems, located = compile_spec(text, str(path), Path(path))
    if spec is None:
        return problems
    return _run_examples(spec, located)


def load_spec(path: str | Path, check_examples: bool = True) -> Spec:
    """Load and compile a spec file; raises ``SpecError`` listing every problem."""
    text, problems = _read(path)
    if text is None:
        raise SpecError(str(problems[0]), problems)
    spec, problems, located = compile_spec(text, str(path), Path(path))
    if spec is not None and check_examples:
        problems = _run_examples(spec, located)
    if problems:
        summary = "; ".join(str(p) for p in problems[:3]) + (
            f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        )
        raise SpecError(f"invalid spec {path}: {summary}", problems)
    assert spec is not None
    return spec


def run_examples(spec: Spec) -> list[Problem]:
    """The problems of a compiled spec's examples (empty when every example passes)."""
    located = None
    if spec.path is not None and spec.path.exists():
        located, _ = load_located(spec.path.read_text(encoding="utf-8"), str(spec.path))
    return _run_examples(spec, located)
