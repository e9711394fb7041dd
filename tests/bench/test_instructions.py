"""``bench/instructions.py``'s reading of a callgrind dump: instructions by the library that ran them."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: a dump as callgrind writes it: compressed names, a call whose inclusive cost follows its ``calls=`` line
DUMP = """\
version: 1
positions: line
events: Ir
summary: 149
ob=(1) /usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0
fl=(1) ceval.c
fn=(1) _PyEval_EvalFrameDefault
10 100
cob=(2) /usr/lib/x86_64-linux-gnu/libsqlite3.so.0.8.6
cfl=(2) ???
cfn=(2) sqlite3_step
calls=1 5
10 1000
ob=(2)
fl=(2)
fn=(2)
5 40
+1 2
ob=(3) /usr/lib/x86_64-linux-gnu/libc.so.6
fl=(3) ???
fn=(3) memcpy
* 7
totals: 149
"""


def instructions_module():
    bench = str(ROOT / "bench")
    if bench not in sys.path:
        sys.path.append(bench)  # last: bench/http.py must not shadow the standard library's http
    return importlib.import_module("instructions")


def test_self_costs_are_summed_by_library_and_a_calls_inclusive_cost_is_not_counted_again(tmp_path):
    dump = tmp_path / "ours.cg.1"
    dump.write_text(DUMP)
    by_library = instructions_module().instructions_by_library(dump)
    assert by_library == {"Python interpreter": 100, "SQLite": 42, "C library": 7, "uvloop": 0, "other": 0}
    assert sum(by_library.values()) == 149  # the dump's own total
