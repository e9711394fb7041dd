"""Semantic checks of text (line) messages."""

from __future__ import annotations

import re
from typing import Any

from core.spec.problems import join_pointer
from core.spec.schema_check import did_you_mean
from core.spec.types import TEXT_TYPES, TextFieldModel, TextModel


class TextChecks:
    """The text-message checks of ``ModelBuilder``."""

    def problem(self, pointer: str, message: str, prefer_key: bool = False) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ messages

    def text(self, doc: dict[str, Any], pointer: str) -> TextModel | None:
        regex = doc.get("regex")
        columns = doc.get("columns", False)
        if bool(regex) == bool(columns):
            self.problem(pointer, "a text message needs exactly one of 'regex' or 'columns: true'")
            return None
        groups: set[str] = set()
        if regex:
            try:
                groups = set(re.compile(regex).groupindex)
            except re.error as exc:
                self.problem(join_pointer(pointer, "regex"), f"invalid regular expression: {exc}")
                return None
        fields: list[TextFieldModel] = []
        spans: list[tuple[int, int, str]] = []
        names: set[str] = set()
        for i, fdoc in enumerate(doc["fields"]):
            fptr = join_pointer(pointer, "fields", i)
            kind = fdoc["type"]
            if kind not in TEXT_TYPES:
                self.problem(join_pointer(fptr, "type"), f"expected one of {', '.join(TEXT_TYPES)}, got {kind!r}")
                continue
            tf = TextFieldModel(
                name=fdoc["name"],
                kind=kind,
                pointer=fptr,
                group=fdoc.get("group"),
                optional=fdoc.get("optional", False),
                strip=fdoc.get("strip", True),
                width=fdoc.get("width"),
                pad=fdoc.get("pad", " "),
                align=fdoc.get("align", "right" if kind in ("int", "decimal") else "left"),
                prefix=fdoc.get("prefix", ""),
                suffix=fdoc.get("suffix", ""),
                null_if=fdoc.get("null_if", {}),
                null_fill=fdoc.get("null_fill"),
                match=fdoc.get("match"),
            )
            if tf.name in names:
                self.problem(join_pointer(fptr, "name"), f"duplicate field name '{tf.name}'")
                continue
            names.add(tf.name)
            if "columns" in fdoc:
                start, end = fdoc["columns"]
                if not columns:
                    self.problem(join_pointer(fptr, "columns"), "columns need 'columns: true' on the text message")
                    continue
                if end <= start:
                    self.problem(join_pointer(fptr, "columns"), f"column end {end} must be after start {start}")
                    continue
                for other_start, other_end, other in spans:
                    if start < other_end and other_start < end:
                        self.problem(
                            join_pointer(fptr, "columns"),
                            f"columns {start}..{end} overlap field '{other}' ({other_start}..{other_end})",
                        )
                        break
                else:
                    spans.append((start, end, tf.name))
                    tf.columns = (start, end)
            elif tf.kind == "computed":
                from core.spec.expr import SPECIAL_NAMES
                from core.spec.expr import parse as parse_expr

                tf.value_expr, problem = parse_expr(fdoc.get("value"))
                vptr = join_pointer(fptr, "value")
                if tf.value_expr is None:
                    self.problem(vptr if "value" in fdoc else fptr, problem or "a computed field needs 'value'")
                    continue
                earlier = [f.name for f in fields]
                unknown = sorted(tf.value_expr.names - set(earlier) - SPECIAL_NAMES)
                if unknown:
                    self.problem(
                        vptr,
                        f"unknown name '{unknown[0]}' in {tf.value_expr.text!r}; earlier fields: {', '.join(earlier)}"
                        f"{did_you_mean(unknown[0], earlier)}",
                    )
                    continue
                if tf.value_expr.tables:
                    self.problem(vptr, "a text message has no tables to look up")
                    continue
            elif tf.kind != "line":
                if columns:
                    self.problem(fptr, "missing required key 'columns'")
                    continue
                if tf.group is None and tf.kind != "bool":
                    self.problem(fptr, "missing required key 'group'")
                    continue
                if tf.group is not None and tf.group not in groups:
                    self.problem(
                        join_pointer(fptr, "group"),
                        f"the regex has no group '{tf.group}'; groups: {', '.join(sorted(groups))}{did_you_mean(tf.group, sorted(groups))}",
                    )
                    continue
            if kind == "choice":
                choices = fdoc.get("choices")
                if not choices:
                    self.problem(fptr, "a choice needs 'choices'")
                    continue
                tf.choices = {c: c for c in choices} if isinstance(choices, list) else dict(choices)
            if kind == "bool":
                try:
                    re.compile(fdoc.get("match", ""))
                except re.error as exc:
                    self.problem(join_pointer(fptr, "match"), f"invalid regular expression: {exc}")
                    continue
                if "match" not in fdoc:
                    self.problem(fptr, "a bool needs 'match'")
                    continue
            fields.append(tf)
        for tf in fields:
            for other in tf.null_if:
                if other not in names:
                    self.problem(join_pointer(tf.pointer, "null_if", other), f"null_if names unknown field '{other}'")
        template_names = re.findall(r"{([A-Za-z_][A-Za-z0-9_]*)}", doc["template"])
        for tname in template_names:
            if tname not in names:
                self.problem(
                    join_pointer(pointer, "template"),
                    f"the template names unknown field '{tname}'{did_you_mean(tname, sorted(names))}",
                )
        return TextModel(
            regex=regex, columns=bool(columns), mode=doc.get("match", "full"), template=doc["template"], fields=fields
        )
