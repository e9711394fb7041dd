"""Read a spec's YAML while remembering where every value (and every mapping key) sits in the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from core.spec.problems import Problem, join_pointer


@dataclass
class Located:
    """The parsed document plus 1-based (line, col) positions keyed by JSON pointer."""

    file: str
    data: Any
    values: dict[str, tuple[int, int]] = field(default_factory=dict)
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)

    def position(self, pointer: str, prefer_key: bool = False) -> tuple[int, int]:
        probe = pointer
        while True:
            if prefer_key and probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            if probe in self.keys:
                return self.keys[probe]
            if not probe:
                return (1, 1)
            probe = probe.rsplit("/", 1)[0]

    def problem(self, pointer: str, message: str, prefer_key: bool = False) -> Problem:
        line, col = self.position(pointer, prefer_key)
        return Problem(self.file, line, col, pointer, message)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, located: Located) -> None:
        self.located = located
        self.constructor = yaml.SafeLoader("")
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, pointer: str) -> Any:
        self.located.values[pointer] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.constructor.construct_object(key_node, deep=True)
                if isinstance(key, bool) and isinstance(key_node, yaml.ScalarNode):
                    key = key_node.value  # YAML 1.1 reads a key like `on:` as true: keys stay text
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    self.problems.append(
                        Problem(
                            self.located.file, *_mark(key_node), pointer, f"mapping keys must be scalars, got {key!r}"
                        )
                    )
                    continue
                child = join_pointer(pointer, key)
                if key in result:
                    self.problems.append(Problem(self.located.file, *_mark(key_node), child, f"duplicate key {key!r}"))
                self.located.keys[child] = _mark(key_node)
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, join_pointer(pointer, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node, deep=True)


def load_located(text: str, file: str) -> tuple[Located, list[Problem]]:
    located = Located(file=file, data=None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        return located, [Problem(file, line, col, "", f"invalid YAML: {problem}")]
    if node is None:
        return located, [Problem(file, 1, 1, "", "the spec is empty")]
    builder = _Builder(located)
    located.data = builder.build(node, "")
    return located, builder.problems
