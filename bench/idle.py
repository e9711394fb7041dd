"""Memory per idle gas-meter connection of ``specgate serve`` against a bare asyncio server.

    python bench/idle.py [--connections 10000] [--rounds 3]

Each round starts a fresh server (``specgate serve --no-web`` with one gas_meter listener allowing 20,000
connections and a one-hour idle timeout, SQLite store in a temporary directory; the baseline is
``bench/baseline_tcp.py``, an asyncio server waiting for 256 bytes per connection), opens and closes a few
connections to warm it up, reads its ``VmRSS`` from ``/proc/PID/status``, opens ``--connections`` idle
connections from this process, waits until the server holds them all (its ``/proc/PID/fd``), and reads
``VmRSS`` again: (after - before) / connections, in KiB (target <= 10 KiB). The sides alternate.

This process raises its soft open-files limit to the hard one (the servers inherit it); when a limit is
too low for ``--connections`` the run says so and uses what fits.
"""

from __future__ import annotations

import sys

sys.path.append(sys.path.pop(0))  # bench/ last: bench/http.py must not shadow the standard library's http

import argparse
import os
import socket
import tempfile
import time
from pathlib import Path

from benchlib import (
    BENCH,
    HOST,
    Server,
    endpoints,
    machine_line,
    nofile_limit,
    print_ratio_table,
    raise_nofile,
    running,
    specgate_command,
    vm_rss_kib,
)

PACE = 50
SPARE_FDS = 200  # what each process needs besides the connections (files, pipes, the store, listeners)


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def measure(server: Server, port: int, connections: int, settle: float) -> tuple[float, int, int]:
    """KiB per connection, RSS before and after (KiB)."""
    for _ in range(20):  # warm-up: the accept path and a session's first allocations
        with socket.create_connection((HOST, port)) as s:
            s.settimeout(2)
            time.sleep(0.005)
    time.sleep(settle)
    fds_before = open_fds(server.pid)
    before = vm_rss_kib(server.pid)
    held = []
    try:
        for i in range(connections):
            held.append(socket.create_connection((HOST, port), timeout=10))
            if i % PACE == PACE - 1:
                # the baseline's backlog is asyncio's default (100; the listener's is 1024): a connect beyond it
                # waits for the kernel's 1 s SYN retry, so keep at most PACE connections ahead of the accept loop
                while open_fds(server.pid) < fds_before + i + 1 - PACE:
                    time.sleep(0.002)
        deadline = time.monotonic() + 60
        while open_fds(server.pid) < fds_before + connections:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{server.name} holds {open_fds(server.pid) - fds_before} of {connections} connections after 60 s"
                )
            time.sleep(0.1)
        time.sleep(settle)
        after = vm_rss_kib(server.pid)
        if open_fds(server.pid) < fds_before + connections:
            raise SystemExit(f"{server.name} closed idle connections while they were measured")
    finally:
        for s in held:
            s.close()
    return (after - before) / connections, before, after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=1.0, help="seconds to wait before each RSS reading")
    args = parser.parse_args()
    print(machine_line())
    soft, hard = raise_nofile()
    connections = args.connections
    if connections + SPARE_FDS > soft:
        connections = soft - SPARE_FDS
        print(
            f"open-files limit of the client is {soft} (hard {hard}): {connections} connections, not {args.connections}"
        )
    results: dict[str, list[float]] = {"ours": [], "baseline": []}
    details: list[str] = []
    with tempfile.TemporaryDirectory(prefix="specgate-bench-") as tmp:
        workdir = Path(tmp)
        for r in range(args.rounds):
            order = ["ours", "baseline"] if r % 2 == 0 else ["baseline", "ours"]
            for side in order:
                if side == "ours":
                    argv = specgate_command() + [
                        "serve",
                        "--no-web",
                        "--no-listeners",
                        "--listen",
                        # room for every connection measured, within the open-files limit serve checks
                        f"gas_meter:0:host={HOST},max_connections={connections + SPARE_FDS // 2},idle_timeout=3600,"
                        "first_byte_timeout=3600,max_share_per_address=1",
                        "--store",
                        f"sqlite:///{workdir / f'r{r}.db'}",
                        "--log-level",
                        "WARNING",
                    ]
                    ready = [r"specgate serving", r"listener gas_meter on"]
                else:
                    argv = [specgate_command()[0], str(BENCH / "baseline_tcp.py")]
                    ready = [r"listening "]
                with running(side, argv, workdir, ready) as server:
                    limit = nofile_limit(server.pid)
                    n = connections
                    if n + SPARE_FDS > limit:
                        n = limit - SPARE_FDS
                        print(f"{side}: the server's open-files limit is {limit}: {n} connections")
                    if side == "ours":
                        port = endpoints(server, "gas_meter")[0][1]
                    else:
                        port = int(server.lines[0].rsplit(":", 1)[1])
                    per_conn, before, after = measure(server, port, n, args.settle)
                    results[side].append(per_conn)
                    details.append(
                        f"  round {r + 1} {side:<8} {n} connections: VmRSS {before:,} -> {after:,} KiB"
                        f" (+{after - before:,} KiB)"
                    )
    print(f"{args.rounds} rounds, a fresh server per side and round, sides alternating")
    print()
    print_ratio_table(
        f"KiB of server RSS per idle gas-meter connection ({connections} connections)",
        "KiB/conn",
        results["ours"],
        results["baseline"],
        fmt=",.2f",
    )
    ours = sorted(results["ours"])[len(results["ours"]) // 2]
    print(f"  target ours <= 10 KiB per connection: {'met' if ours <= 10 else 'NOT met'} (median {ours:.2f})")
    print("\n".join(details))


if __name__ == "__main__":
    main()
