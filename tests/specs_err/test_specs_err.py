"""Golden bad specs: each ``*.yaml`` here opens with ``# <json pointer>: <message>``, the one problem that
validating it must report; the problem's line and column must point at that spot in the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.spec import validate_spec

HERE = Path(__file__).parent
GOLDEN = sorted(HERE.glob("*.yaml"))


def expected_problem(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# "), f"{path.name}: the first line must be '# <pointer>: <message>'"
    return first[2:]


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def pointer_positions(path: Path, pointer: str) -> set[tuple[int, int]]:
    """Where the deepest node the pointer reaches starts: its key and its value (1-based line, col)."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:  # a file that is not YAML: where the parser gave up
        assert exc.problem_mark is not None
        return {(exc.problem_mark.line + 1, exc.problem_mark.column + 1)}
    constructor = yaml.SafeLoader("")
    positions = {_mark(node)}
    for token in (_unescape(t) for t in pointer.split("/")[1:]):
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # a merge key `<<` is no key of its own
                key = constructor.construct_object(key_node)
                # YAML 1.1 reads a key like `on:` as true; spec keys are text
                text = key_node.value if isinstance(key, bool) else str(key)
                if text == token:  # the last one wins, like a duplicate key in YAML
                    positions, child = {_mark(key_node), _mark(value_node)}, value_node
        elif isinstance(node, yaml.SequenceNode) and token.isdigit() and int(token) < len(node.value):
            child = node.value[int(token)]
            positions = {_mark(child)}
        if child is None:
            break
        node = child
    return positions


def test_enough_distinct_golden_specs():
    messages = {expected_problem(p).split(": ", 1)[1].split("'")[0] for p in GOLDEN}
    assert len(GOLDEN) >= 20 and len(messages) >= 15


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_bad_spec(path: Path):
    expected = expected_problem(path)
    problems = validate_spec(path)
    assert [f"{p.pointer or '/'}: {p.message}" for p in problems] == [expected]
    problem = problems[0]
    assert Path(problem.file) == path
    assert (problem.line, problem.col) in pointer_positions(path, problem.pointer), str(problem)
    assert str(problem) == f"{problem.file}:{problem.line}:{problem.col}: {expected}"
