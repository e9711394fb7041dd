"""``docs/security.md`` prints the role matrix and the token scopes exactly as ``core.security.roles`` has them.

On a difference the failure message holds the table as it must read, ready to paste.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.security.roles import PERMISSIONS, ROLES, TOKEN_SCOPES, holders

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
MARK = "✓"
COLUMNS = [*ROLES, "system administrator", "token scope", "trusted network"]


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    assert f"\n## {title}\n" in text, f"docs/security.md has no '## {title}' section"
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every row of the Markdown tables in ``text`` (header and rule lines left out)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or re.fullmatch(r"\|[\s|:-]+\|", line):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:] if rows else rows  # the first is the header


def matrix_rows() -> list[list[str]]:
    """The role matrix as code has it: one row per permission, a mark per holder (from ``holders``)."""
    rows = []
    for name, rule in PERMISSIONS.items():
        held = holders(name)
        cells = [f"`{name}`"]
        cells += [MARK if role in held else "" for role in ROLES]
        cells.append(MARK if "system administrator" in held else "")
        cells.append(f"`{rule.scope}`" if f"token scope `{rule.scope}`" in held else "")
        cells.append(MARK if "anonymous from a trusted network" in held else "")
        cells.append(rule.description)
        rows.append(cells)
    return rows


def scope_rows() -> list[list[str]]:
    rows = []
    for scope, purpose in TOKEN_SCOPES.items():
        granted = ", ".join(f"`{name}`" for name, rule in PERMISSIONS.items() if rule.scope == scope)
        rows.append([f"`{scope}`", purpose, granted])
    return rows


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(rows_cells) + " |" for rows_cells in rows]
    return "\n".join(lines)


def test_the_role_matrix_is_the_table_in_code():
    expected = matrix_rows()
    assert table_rows(section("Role matrix")) == expected, (
        "docs/security.md (## Role matrix) differs from core.security.roles.PERMISSIONS; it must read:\n"
        + markdown(["permission", *COLUMNS, "what"], expected)
    )


def test_the_token_scopes_are_the_table_in_code():
    expected = scope_rows()
    assert table_rows(section("Token scopes")) == expected, (
        "docs/security.md (## Token scopes) differs from core.security.roles.TOKEN_SCOPES; it must read:\n"
        + markdown(["scope", "for", "grants"], expected)
    )


def test_the_matrix_check_sees_a_changed_holder():
    rows = matrix_rows()
    metrics = next(row for row in rows if row[0] == "`metrics.read`")
    assert metrics[1 : len(ROLES) + 1] == [""] * len(ROLES)  # no role of a tenant reads the metrics
    assert metrics[len(ROLES) + 1 :] == [MARK, "`metrics`", MARK, PERMISSIONS["metrics.read"].description]
    changed = [row[:] for row in rows]
    changed[0][1] = "" if changed[0][1] else MARK
    assert changed != rows
