"""Instructions per gas-meter session, counted by valgrind: ours, the durable floor and the bare server.

    python bench/instructions.py [--sessions 400] [--warmup 200] [--concurrency 20] [--compare DIR]

Time measured on a shared machine moves with its load; the instructions a server runs per session move far
less, so a change of a few per cent in the session path shows here when ``sessions.py`` cannot see it. The
three servers of ``bench/sessions.py`` (``specgate serve``, the durable floor ``bench/floor_tcp.py`` and the
bare ``bench/baseline_tcp.py``, each on its own copy of the provisioned database) run one after another under
valgrind's callgrind (no cache simulation). Each gets ``--warmup`` sessions first (the first report of every
meter: all its readings are new), then its counters are zeroed (``callgrind_control --zero``), ``--sessions``
sessions run (the meters' next reports: one new reading each, as in ``sessions.py`` after its first pass),
and the counters are dumped. The figure is instructions per session, all threads, user space only (the
kernel's work for sockets and fsync is not counted), and its ratio to the bare server's and the floor's.

Then each side's instructions by the library that ran them (the dump's self costs by object file): the
Python interpreter (``libpython``, the bytecode of the server and of asyncio), SQLite, the C library, the
event loop (uvloop) and the rest. Both databases do the same statements, so SQLite's row is about equal on
ours and the floor's, and the difference between them is the interpreter's work.

``--compare DIR`` adds a fourth side: ``specgate serve`` of another checkout (``python -m core`` run in DIR),
measured the same way, for a before and after in one run.

Valgrind runs one thread at a time, so the SQLite group commits group differently than in a real run (the
writer thread's share is approximate), and everything runs some 50 times slower: ``specgate serve`` takes a
minute or two to start. Needs valgrind (Debian: ``apt-get install valgrind``). Nothing here is a target: the
issue's targets are the sessions/s and latency of ``sessions.py``.
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # bench/ last: bench/http.py must not shadow the standard library's http

import argparse
import asyncio
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchlib import BENCH, ROOT, endpoints, machine_line, running
from sessions import build_packets, one_session, provision, serve_argv

#: callgrind with no cache simulation; each dump is written to the file named here, a number appended
CALLGRIND = ["valgrind", "--tool=callgrind", "--dump-instr=no", "--compress-strings=no"]
#: valgrind slows everything: a side may take this long to print that it listens
START_TIMEOUT = 600.0


async def run_sessions(port: int, packets: list[bytes], concurrency: int) -> int:
    """Run every packet's session, ``concurrency`` at a time; how many failed."""
    queue = iter(packets)
    failed = 0

    async def meter() -> None:
        nonlocal failed
        for packet in queue:
            try:
                await one_session(port, packet)
            except (OSError, asyncio.IncompleteReadError):
                failed += 1

    await asyncio.gather(*(meter() for _ in range(concurrency)))
    return failed


#: the libraries the breakdown names, by a part of their file name; the rest is "other"
LIBRARIES = (
    ("Python interpreter", "libpython"),
    ("SQLite", "libsqlite3"),
    ("C library", "libc.so"),
    ("uvloop", "uvloop"),
)
_NAME = re.compile(r"^(c?ob)=(?:\((\d+)\))?\s*(.*)$")


def last_dump(dump_dir: Path, name: str) -> Path:
    dumps = sorted(dump_dir.glob(f"{name}.cg.*"), key=lambda path: path.stat().st_mtime)
    if not dumps:
        raise SystemExit(f"callgrind wrote no dump for {name} in {dump_dir}")
    return dumps[-1]


def instructions_by_library(dump: Path) -> dict[str, int]:
    """The self cost of each object file in a callgrind dump, summed into :data:`LIBRARIES` and "other".

    In the dump, ``ob=`` names the object of the cost lines that follow; a ``calls=`` line is followed by
    the inclusive cost of that call, which belongs to the callee and is skipped; names are compressed as
    ``(id) name`` once, then ``(id)``."""
    objects: dict[str, str] = {}
    library_of: dict[str, str] = {}
    library = "other"
    after_call = False
    totals = dict.fromkeys([name for name, _ in LIBRARIES] + ["other"], 0)
    for line in dump.read_text(errors="replace").splitlines():
        named = _NAME.match(line)
        if named:
            tag, ident, text = named.groups()
            if ident and text:
                objects[ident] = text
            if tag == "ob":
                path = objects.get(ident, text) if ident else text
                if path not in library_of:
                    library_of[path] = next((name for name, part in LIBRARIES if part in path), "other")
                library = library_of[path]
            continue
        if line.startswith("calls="):
            after_call = True
            continue
        if not line or not (line[0].isdigit() or line[0] in "+-*"):
            continue
        if after_call:
            after_call = False
            continue
        parts = line.split()
        if len(parts) >= 2:
            totals[library] += int(parts[1])
    return totals


def dumped_instructions(dump_dir: Path, name: str) -> int:
    """The instructions in the dump ``callgrind_control --dump`` wrote of side ``name``."""
    dump = last_dump(dump_dir, name)
    for line in dump.read_text(errors="replace").splitlines():
        match = re.match(r"(?:summary|totals):\s+(\d+)", line)
        if match:
            return int(match.group(1))
    raise SystemExit(f"no instruction total in {dump}")


async def measure(
    name: str,
    argv: list[str],
    ready: list[str],
    workdir: Path,
    cwd: Path,
    warmup: list[bytes],
    timed: list[bytes],
    concurrency: int,
) -> int:
    """Instructions per session of the server ``argv`` for the ``timed`` sessions, after ``warmup``."""
    traced = [*CALLGRIND, f"--callgrind-out-file={workdir / name}.cg", *argv]
    with running(name, traced, workdir, ready, timeout=START_TIMEOUT, cwd=cwd) as server:
        if name.startswith("ours") or name.startswith("compare"):
            port = endpoints(server, "gas_meter")[0][1]
        else:
            port = int(server.lines[0].rsplit(":", 1)[1])
        failed = await run_sessions(port, warmup, concurrency)
        subprocess.run(["callgrind_control", "--zero", str(server.pid)], check=True, capture_output=True)
        failed += await run_sessions(port, timed, concurrency)
        subprocess.run(["callgrind_control", "--dump", str(server.pid)], check=True, capture_output=True)
        if failed:
            raise SystemExit(f"{name}: {failed} session(s) failed:\n{server.log_tail()}")
        return dumped_instructions(workdir, name) // len(timed)


def print_libraries(shares: dict[str, dict[str, int]], counts: dict[str, int]) -> None:
    """Instructions per session by library, each side's dump shares scaled to its instructions per session."""
    print("instructions per session by library (self costs in the dump, scaled to the figure above)")
    print(f"  {'library':<20}" + "".join(f"{side:>14}" for side in shares))
    for library in [name for name, _ in LIBRARIES] + ["other"]:
        cells = []
        for side, by_library in shares.items():
            total = sum(by_library.values()) or 1
            cells.append(f"{by_library[library] * counts[side] // total:>14,}")
        print(f"  {library:<20}" + "".join(cells))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=400, help="sessions counted per side")
    parser.add_argument("--warmup", type=int, default=200, help="sessions before counting (one per meter)")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--compare", type=Path, help="another checkout whose specgate serve is measured too")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    meters = args.warmup
    per_meter = 1 + -(-args.sessions // meters)
    packets = build_packets(meters, per_meter)
    warmup = [own[0] for own in packets]
    timed = [own[k] for k in range(1, per_meter) for own in packets][: args.sessions]
    print(machine_line())
    print(
        f"{args.sessions} sessions counted per side after {len(warmup)} warm-up sessions,"
        f" {args.concurrency} concurrent; callgrind, all threads, user space"
    )
    with tempfile.TemporaryDirectory(prefix="specgate-bench-") as tmp:
        workdir = Path(tmp)
        sides: list[tuple[str, list[str], list[str], Path]] = []
        for name in ("baseline", "floor", "ours", "compare"):
            db = workdir / f"{name}.db"
            if name == "baseline":
                sides.append((name, [sys.executable, str(BENCH / "baseline_tcp.py")], [r"listening "], ROOT))
                continue
            if name == "compare" and args.compare is None:
                continue
            await provision(db, meters)
            if name == "floor":
                argv = [sys.executable, str(BENCH / "floor_tcp.py"), "--db", str(db)]
                sides.append((name, argv, [r"listening "], ROOT))
            else:
                cwd = args.compare.resolve() if name == "compare" else ROOT
                sides.append((name, serve_argv(db), [r"specgate serving", r"listener gas_meter on"], cwd))
        counts: dict[str, int] = {}
        shares: dict[str, dict[str, int]] = {}
        for name, argv, ready, cwd in sides:
            counts[name] = await measure(name, argv, ready, workdir, cwd, warmup, timed, args.concurrency)
            shares[name] = instructions_by_library(last_dump(workdir, name))
            print(f"  {name:<10} {counts[name]:>12,} instructions per session", flush=True)
    print()
    print_libraries(shares, counts)
    print()
    base, floor = counts["baseline"], counts["floor"]
    for name, count in counts.items():
        if name != "baseline":
            print(f"  {name:<10} {count / base:6.2f} x baseline   {count / floor:6.2f} x floor")
    if "compare" in counts:
        print(f"  ours / compare: {counts['ours'] / counts['compare']:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
