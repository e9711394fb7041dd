"""Shared fixtures: a real MongoDB-wire server for the session, and stores of both backends.

The MongoDB leg uses the server at ``MONGODB_URI`` when it is set; otherwise it starts SecantusDB
(``secantusd-py``, installed with the test extras) on a free loopback port for the whole session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _secantus_command() -> str:
    candidate = Path(sys.executable).with_name("secantusd-py")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("secantusd-py")
    if not found:
        raise RuntimeError("secantusd-py not found: install the test extras (pip install -e '.[test]')")
    return found


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"secantusd-py exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"secantusd-py did not listen on {port} within {timeout}s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory) -> str:
    """URI of a real MongoDB-wire server (``retryWrites=false``), shared by the session."""
    configured = os.environ.get("MONGODB_URI")
    if configured:
        yield configured
        return
    port = _free_port()
    data_dir = tmp_path_factory.mktemp("secantus")
    log = data_dir / "server.log"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [_secantus_command(), "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(data_dir / "db")],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, proc, log)
        yield f"mongodb://127.0.0.1:{port}/?retryWrites=false"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def unique_name(prefix: str = "t") -> str:
    """A name no other test uses: a fresh database prefix per test."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def _store_url(backend: str, tmp_path: Path, mongodb_uri: str | None) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'specgate.db'}"
    assert mongodb_uri, "the MongoDB leg needs a server"
    return mongodb_uri


#: the tests' data are dated around December 2025; a century of retention keeps MongoDB's TTL monitor
#: (a sweep a minute) and SQLite's purge from removing it in the middle of a test
_KEEP_TEST_DATA = {"exchange_retention_days": 36500, "dead_letter_retention_days": 36500}


def store_options(backend: str) -> dict:
    """Per-test options: on MongoDB a fresh database-name prefix, so tests never share data."""
    if backend == "mongodb":
        return {"db_prefix": unique_name("t") + "_", **_KEEP_TEST_DATA}
    return dict(_KEEP_TEST_DATA)


@pytest.fixture(params=["sqlite", "mongodb"])
async def store(request, tmp_path):
    """An opened store of each backend, empty, closed after the test."""
    from core.store import open_store

    backend = request.param
    uri = request.getfixturevalue("mongodb_uri") if backend == "mongodb" else None
    async with open_store(_store_url(backend, tmp_path, uri), **store_options(backend)) as s:
        yield s


@pytest.fixture(params=["sqlite", "mongodb"])
def backend(request):
    """The backend name, for tests that build their own store or gateway (use with ``backend_url``)."""
    return request.param


@pytest.fixture
def backend_url(backend, tmp_path, request):
    """(url, options) for ``backend``: a fresh SQLite file, or the session's MongoDB with a fresh prefix."""
    uri = request.getfixturevalue("mongodb_uri") if backend == "mongodb" else None
    return _store_url(backend, tmp_path, uri), store_options(backend)


@pytest.fixture
async def two_stores(backend_url):
    """(writer, reader): two store instances on one database, as two gateway/web processes would have."""
    from core.store import open_store

    url, options = backend_url
    async with contextlib.AsyncExitStack() as stack:
        yield tuple([await stack.enter_async_context(open_store(url, **options)) for _ in range(2)])


@pytest.fixture
def config_file(backend_url, tmp_path) -> str:
    """A configuration file naming a new, empty store of each backend (made once, as ``--create`` does),
    for tests of commands that take ``--config``."""
    import yaml

    from core.cli import main

    url, options = backend_url
    path = tmp_path / "admin.yaml"
    path.write_text(yaml.safe_dump({"store": {"url": url, "options": options}}))
    assert main(["tenants", "list", "--config", str(path), "--create"]) == 0
    return str(path)


def on_store(backend_url, action):
    """Run ``action(store)`` on a store opened on ``backend_url`` (from synchronous command-line tests)."""
    import asyncio

    from core.store import open_store

    url, options = backend_url

    async def run():
        async with open_store(url, **options) as store:
            return await action(store)

    return asyncio.run(run())
