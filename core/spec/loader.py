"""Read a spec's YAML while remembering where every value (and every mapping key) sits in the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from core.spec.problems import Problem, join_pointer

#: libyaml's parser when PyYAML was built with it (the wheels are): ten times faster than the pure-Python
#: one, with the same nodes and marks
_COMPOSER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_COMPOSER)
    except yaml.YAMLError:
        if _COMPOSER is yaml.SafeLoader:
            raise
        # the pure-Python parser says what is wrong in plainer words: a broken file is parsed again by it
        return yaml.compose(text, Loader=yaml.SafeLoader)


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


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, located: Located) -> None:
        self.located = located
        self.constructor = yaml.SafeLoader("")
        self.problems: list[Problem] = []

    def key(self, key_node: yaml.Node, pointer: str) -> Any:
        """The key of a mapping entry, or None (reported) when it is not a scalar."""
        key = self.constructor.construct_object(key_node, deep=True)
        if isinstance(key, bool) and isinstance(key_node, yaml.ScalarNode):
            key = key_node.value  # YAML 1.1 reads a key like `on:` as true: keys stay text
        if not isinstance(key, (str, int, float, bool)) or key is None:
            self.problems.append(
                Problem(self.located.file, *_mark(key_node), pointer, f"mapping keys must be scalars, got {key!r}")
            )
            return None
        return key

    def merged(self, node: yaml.Node, pointer: str, seen: tuple[int, ...] = ()) -> list[tuple[yaml.Node, yaml.Node]]:
        """The entries a ``<<`` merge key brings in, in YAML 1.1 order of precedence (the first one wins).

        The value is a mapping (an alias or inline) or a list of them; earlier mappings of a list win over
        later ones, and each mapping's own keys win over what it merges itself.
        """
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        entries: list[tuple[yaml.Node, yaml.Node]] = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self.problems.append(
                    Problem(
                        self.located.file, *_mark(source), pointer, "a merge key '<<' needs a mapping or a list of them"
                    )
                )
                continue
            if id(source) in seen:
                continue  # a mapping cannot merge itself
            explicit = [(k, v) for k, v in source.value if k.tag != _MERGE_TAG]
            entries.extend(explicit)
            for key_node, value_node in source.value:
                if key_node.tag == _MERGE_TAG:
                    entries.extend(self.merged(value_node, pointer, (*seen, id(source))))
        return entries

    def build(self, node: yaml.Node, pointer: str) -> Any:
        self.located.values[pointer] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            # explicit keys override merged ones (YAML 1.1): that is no duplicate, two explicit ones are
            explicit: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
            merged: dict[Any, tuple[yaml.Node, yaml.Node]] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    for merged_key, merged_value in self.merged(value_node, pointer, (id(node),)):
                        key = self.key(merged_key, pointer)
                        if key is not None:
                            merged.setdefault(key, (merged_key, merged_value))  # the first mapping wins
                    continue
                key = self.key(key_node, pointer)
                if key is None:
                    continue
                if key in explicit:
                    child = join_pointer(pointer, key)
                    self.problems.append(Problem(self.located.file, *_mark(key_node), child, f"duplicate key {key!r}"))
                explicit[key] = (key_node, value_node)
            result: dict[Any, Any] = {}
            entries = {**merged, **explicit}  # as PyYAML orders them: merged keys first, explicit values win
            for key, (key_node, value_node) in entries.items():
                child = join_pointer(pointer, key)
                self.located.keys[child] = _mark(key_node)
                result[key] = self.build(value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, join_pointer(pointer, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node, deep=True)


def load_located(text: str, file: str) -> tuple[Located, list[Problem]]:
    located = Located(file=file, data=None)
    try:
        node = _compose(text)
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
