"""What the benchmarks share: server subprocesses, rounds, medians and the printed table.

Every benchmark runs its servers as subprocesses on 127.0.0.1 (ephemeral ports, a temporary directory) and is
itself the client, so client and server never share a GIL. Sides are interleaved in rounds (the side that goes
first alternates) and the median of the rounds is the figure; nothing here asserts anything about time.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
HOST = "127.0.0.1"


def specgate_command() -> list[str]:
    """``specgate`` of this checkout (``python -m core``), whatever is on PATH."""
    return [sys.executable, "-m", "core"]


@dataclass
class Server:
    """A server subprocess whose stdout and stderr go to files (a full pipe would stall it)."""

    name: str
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path
    lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, chars: int = 2000) -> str:
        text = ""
        for path in (self.out, self.err):
            with contextlib.suppress(OSError):
                text += path.read_text(errors="replace")[-chars:]
        return text


def start_server(
    name: str, argv: Sequence[str], workdir: Path, ready: Sequence[str], timeout: float = 60.0, cwd: Path = ROOT
) -> Server:
    """Start ``argv`` and wait until its stdout holds a line matching each regex of ``ready`` (in order)."""
    out, err = workdir / f"{name}.out", workdir / f"{name}.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:  # the child keeps its own descriptors
        proc = subprocess.Popen(list(argv), stdout=stdout, stderr=stderr, cwd=cwd, stdin=subprocess.DEVNULL)
    server = Server(name, proc, out, err)
    deadline = time.monotonic() + timeout
    while True:
        lines = out.read_text(errors="replace").splitlines()
        if len(lines) >= len(ready) and all(re.search(p, line) for p, line in zip(ready, lines, strict=False)):
            server.lines = lines
            return server
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(server)
            raise SystemExit(f"{name} did not start ({' '.join(argv)}):\n{server.log_tail()}")
        time.sleep(0.05)


def stop_server(server: Server, grace: float = 15.0) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@contextlib.contextmanager
def running(name: str, argv: Sequence[str], workdir: Path, ready: Sequence[str], **kwargs: object) -> Iterator[Server]:
    server = start_server(name, argv, workdir, ready, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        stop_server(server)


def endpoints(server: Server, device_type: str) -> list[tuple[str, int]]:
    """``(host, port)`` of every ``listener DEVICE_TYPE on HOST:PORT`` line ``specgate serve`` printed."""
    found = []
    for line in server.lines:
        match = re.search(rf"listener {re.escape(device_type)} on ([\d.]+):(\d+)", line)
        if match:
            found.append((match.group(1), int(match.group(2))))
    return found


def web_url(server: Server) -> str:
    for line in server.lines:
        match = re.search(r"web (http://\S+?)/?$", line.strip())
        if match:
            return match.group(1)
    raise SystemExit(f"{server.name} printed no web URL:\n{server.log_tail()}")


def vm_rss_kib(pid: int) -> int:
    """The process's resident set (``VmRSS`` of ``/proc/PID/status``) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def cpu_times(pids: Sequence[int]) -> tuple[float, float]:
    """User and system CPU time, in seconds, the processes have used (``/proc/PID/stat``)."""
    user = system = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        user += int(fields[11])  # utime and stime: fields 14 and 15 of stat
        system += int(fields[12])
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, system / tick


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU time the processes have used, together."""
    return sum(cpu_times(pids))


def nofile_limit(pid: int | None = None) -> int:
    """The soft open-files limit of ``pid`` (from ``/proc/PID/limits``) or of this process."""
    if pid is None:
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise RuntimeError(f"no open-files limit in /proc/{pid}/limits")


def raise_nofile() -> tuple[int, int]:
    """Raise this process's soft open-files limit to the hard one (children inherit it); ``(soft, hard)``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def print_ratio_table(
    title: str,
    unit: str,
    ours: Sequence[float],
    base: Sequence[float],
    target: str | None = None,
    fmt: str = ",.0f",
    base_name: str = "baseline",
) -> float:
    """Per round ``ours``, ``baseline``, ``ours/baseline``, then the medians; returns the median ratio (the
    median of the per-round ratios: each round's two sides ran back to back)."""
    print(title)
    print(f"  {'round':>6} {'ours ' + unit:>18} {base_name + ' ' + unit:>22} {'ratio':>7}")
    ratios = []
    for i, (a, b) in enumerate(zip(ours, base, strict=True), 1):
        ratio = a / b if b else float("nan")
        ratios.append(ratio)
        print(f"  {i:>6} {a:>18{fmt}} {b:>22{fmt}} {ratio:>7.2f}")
    ratio = median(ratios)
    print(f"  {'median':>6} {median(ours):>18{fmt}} {median(base):>22{fmt}} {ratio:>7.2f}", end="")
    print(f"   target {target}: {'met' if verdict(ratio, target) else 'NOT met'}" if target else "")
    return ratio


def verdict(value: float, target: str) -> bool:
    """``target`` like ``>= 0.5`` or ``< 100``."""
    op, _, number = target.partition(" ")
    limit = float(number)
    return {">=": value >= limit, ">": value > limit, "<=": value <= limit, "<": value < limit}[op]


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"machine: {os.cpu_count()} cores, load average {load}; python {sys.version.split()[0]}"
