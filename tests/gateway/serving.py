"""``specgate serve`` as a real subprocess, for the tests that run it: started with a clean environment,
its stdout read by a thread, stopped with SIGTERM (exit status 0 expected) and killed if a test fails."""

from __future__ import annotations

import contextlib
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import yaml

STARTUP_TIMEOUT = 30.0


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``SPECGATE_*``/``SCALE_GATEWAY_*`` setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPECGATE_", "SCALE_GATEWAY_"))}
    env.update(extra)
    return env


class Output:
    """The process's stdout lines, read by a thread so that waiting never blocks on a pipe."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, marker: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
            if marker in line:
                return self.seen
        raise AssertionError(f"{marker!r} not printed; output so far: {self.seen}")


@contextlib.contextmanager
def serving(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, nofile: int | None = None
) -> Iterator[tuple[subprocess.Popen, Output]]:
    """``specgate serve ARGS`` in ``cwd`` with at most ``nofile`` descriptors; killed on the way out if
    it still runs (a failed assertion must not leave a gateway behind)."""

    def limit_descriptors() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else clean_env(),
        cwd=cwd,
        preexec_fn=limit_descriptors,
    )
    try:
        yield proc, Output(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def serving_config(tmp_path: Path, settings: dict, nofile: int | None = None):
    """:func:`serving` on ``settings`` written as the configuration file ``serve.yaml``."""
    config = tmp_path / "serve.yaml"
    config.write_text(yaml.safe_dump(settings))
    return serving(["--config", str(config)], tmp_path, nofile=nofile)


def stop(proc: subprocess.Popen) -> str:
    """SIGTERM, then the exit status must be 0; returns what the process wrote on stderr."""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, proc.stderr.read()
    return proc.stderr.read()
