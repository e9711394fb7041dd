"""What an operator reads: sessions at DEBUG, one INFO summary per listener and interval, JSON on request."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from core.config import Config, configure_logging, load_config
from core.errors import ConfigError
from core.gateway.metrics import activity_summary
from tests.gateway.doubles import connect, eventually, read_line


async def test_sessions_are_debug_and_each_interval_gets_one_info_summary(start_echo, caplog):
    caplog.set_level(logging.INFO, logger="specgate.gateway")
    gateway = await start_echo(Config(log_summary_interval=0.2))
    for text in (b"PING 1\n", b"BYE\n"):
        reader, writer = await connect(gateway.port("echo"))
        writer.write(text)
        await read_line(reader)
        writer.close()
    name = f"echo:{gateway.port('echo')}"
    line = re.compile(
        rf"^{name} in the last 0.2s: (\d) session\(s\) closed \(([^)]*)\), (\d) frame\(s\) ok, 0 bad, "
        r"\d repl(?:y|ies), 0 active$"
    )

    def summaries():
        return [line.match(r.getMessage()) for r in caplog.records if "in the last" in r.getMessage()]

    await eventually(lambda: sum(int(m.group(1)) for m in summaries() if m) == 2)
    assert all(summaries()), [r.getMessage() for r in caplog.records if "in the last" in r.getMessage()]
    reasons = ", ".join(m.group(2) for m in summaries())
    assert sorted(reasons.split(", ")) == ["1 done", "1 peer_closed"]
    assert "accepted" not in caplog.text and "closed 127.0.0.1" not in caplog.text


def test_a_summary_counts_only_what_happened_since_the_last_one():
    before = {
        "accepted": 3,
        "active": 1,
        "closed": {"done": 2},
        "rejected": {},
        "frames_ok": 5,
        "frames_bad": 0,
        "replies": 5,
        "dead_letters": 0,
        "store_failures": 0,
        "handler_errors": 0,
    }
    assert activity_summary(before, before) is None
    now = {
        **before,
        "accepted": 5,
        "closed": {"done": 3, "junk": 1},
        "rejected": {"too_many": 2},
        "frames_bad": 1,
        "dead_letters": 1,
        "active": 0,
    }
    assert activity_summary(now, before) == (
        "2 session(s) closed (1 done, 1 junk), 0 frame(s) ok, 1 bad, 0 replies, 2 refused (2 too_many), "
        "1 dead letter(s), 0 active"
    )
    # the device plugins' counters (count(session, ...)) stand in for their per-session lines
    with_plugin = {**now, "plugin": {"told_to_stop": 4, "unstable": 1}}
    assert activity_summary(with_plugin, {**before, "plugin": {"told_to_stop": 1, "unstable": 1}}) == (
        "2 session(s) closed (1 done, 1 junk), 0 frame(s) ok, 1 bad, 0 replies, 2 refused (2 too_many), "
        "1 dead letter(s), 3 told_to_stop, 0 active"
    )


def test_json_logs_are_one_object_per_line(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(load_config(env={"SPECGATE_LOG_FORMAT": "json"}, log_level="INFO"))
        logging.getLogger("specgate.test").warning("meter %s told to stop", "D4245A98")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("specgate.test").exception("it failed")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["level"], first["logger"], first["message"]) == (
        "WARNING",
        "specgate.test",
        "meter D4245A98 told to stop",
    )
    assert first["at"].endswith("+00:00")
    assert second["message"] == "it failed" and "ValueError: boom" in second["exception"]


def test_log_format_and_summary_interval_are_checked():
    assert load_config(env={}, log_format="json").log_format == "json"
    with pytest.raises(ConfigError, match="--log-format must be one of text, json"):
        load_config(env={}, log_format="xml")
