"""The runtime over real loopback TCP, with the ``echo`` line protocol (tests/gateway/doubles.py)."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from core.store import ListQuery
from core.timeutil import local_string, tz_from_offset
from tests.gateway.doubles import connect, eventually, read_line, read_until_closed


async def test_frames_split_or_batched_are_answered_in_order(start_echo, echo_plugin, caplog):
    caplog.set_level(logging.DEBUG, logger="specgate.gateway")
    gateway = await start_echo()
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"PING 1\nPI")
    await writer.drain()
    assert await read_line(reader) == b"PONG 1\n"
    writer.write(b"NG 2\nPING 3\n")
    assert await read_line(reader) == b"PONG 2\n"
    assert await read_line(reader) == b"PONG 3\n"
    writer.write(b"BYE\n")
    assert await read_until_closed(reader) == b"BYE\n"
    writer.close()
    await eventually(lambda: echo_plugin.closed == ["done"])
    counters = gateway.metrics()["listeners"][0]
    assert (counters["accepted"], counters["frames_ok"], counters["replies"], counters["active"]) == (1, 4, 4, 0)
    assert counters["closed"] == {"done": 1}
    assert len(echo_plugin.opened) == 1
    peer = f"127.0.0.1:{writer.get_extra_info('sockname')[1]}"
    assert f"echo:{gateway.port('echo')} accepted {peer}" in caplog.text
    assert f"closed {peer} (done) after 4 frame(s)" in caplog.text


async def test_store_commits_before_the_reply_and_the_exchange_is_logged(start_echo, store):
    clock_value = 1_766_026_800.0  # 2025-12-18 12:00:00 +09:00
    gateway = await start_echo()
    for listener in gateway.listeners:
        listener.clock = lambda: clock_value
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"KEEP hello\n")
    assert await read_line(reader) == b"OK\n"
    port = writer.get_extra_info("sockname")[1]
    latest = await store.get_scale_latest(f"echo-{port}")
    assert latest["raw"] == "hello"
    writer.close()

    async def logged():
        return (await store.list_exchanges(ListQuery(filters={"device_type": "echo"}))).total == 1

    await eventually(logged)
    page = await store.list_exchanges(ListQuery(filters={"device_type": "echo"}))
    entry = page.items[0]
    assert (entry["recv"], entry["send"], entry["recv_len"], entry["send_len"]) == (b"KEEP hello", b"OK\n", 10, 3)
    assert entry["port"] == gateway.port("echo") and entry["ip"] == "127.0.0.1"
    assert entry["datetime"] == local_string(clock_value, tz_from_offset(32400)) == "2025-12-18 12:00:00"


async def test_a_store_step_that_sets_its_outcomes_reply_leaves_no_reference_cycle(start_echo, echo_plugin):
    # the step refers to its outcome and the outcome to the step: unless the runtime drops the step once it ran,
    # the outcome (and the message and session with it) lives until the garbage collector runs
    gateway = await start_echo()
    gc.disable()
    try:
        reader, writer = await connect(gateway.port("echo"))
        writer.write(b"LATE hello\n")
        assert await read_until_closed(reader) == b"LATE hello\n"
        writer.close()
        await eventually(lambda: echo_plugin.closed == ["done"])
        assert len(echo_plugin.late) == 1
        await eventually(lambda: echo_plugin.late[0]() is None)
    finally:
        gc.enable()


async def test_store_failure_means_no_reply_and_a_closed_connection(start_echo, echo_plugin, caplog):
    gateway = await start_echo()
    reader, writer = await connect(gateway.port("echo"))
    with caplog.at_level(logging.ERROR, logger="specgate"):
        writer.write(b"FAIL\n")
        assert await read_until_closed(reader) == b""
        await eventually(lambda: echo_plugin.closed == ["store_unavailable"])
    assert gateway.metrics()["listeners"][0]["store_failures"] == 1
    assert "no reply sent" in caplog.text


async def test_a_store_step_that_fails_for_another_reason_is_a_handler_error_not_a_store_failure(
    start_echo, store, echo_plugin, caplog
):
    gateway = await start_echo()
    with caplog.at_level(logging.ERROR, logger="specgate"):
        for line in (b"FAIL bug\n", b"FAIL refuse\n"):
            reader, writer = await connect(gateway.port("echo"))
            writer.write(line)
            assert await read_until_closed(reader) == b""
        await eventually(lambda: len(echo_plugin.closed) == 2)
    metrics = gateway.metrics()["listeners"][0]
    assert (metrics["store_failures"], metrics["handler_errors"], metrics["frames_bad"]) == (0, 1, 1)
    assert echo_plugin.closed == ["error", "junk"]
    assert "the plugin's store step has a bug" in caplog.text and "no reply sent" not in caplog.text
    letters = (await store.list_dead_letters(ListQuery())).items
    assert sorted(letter["data"] for letter in letters) == [b"FAIL bug", b"FAIL refuse"]


async def test_bad_frame_closes_keeps_the_bytes_and_others_are_still_served(start_echo, store, echo_plugin, caplog):
    gateway = await start_echo(on_bad_frame="close")
    port = gateway.port("echo")
    good_reader, good_writer = await connect(port)
    bad_reader, bad_writer = await connect(port)
    with caplog.at_level(logging.WARNING, logger="specgate.gateway"):
        bad_writer.write(b"HELLO there\n")
        assert await read_until_closed(bad_reader) == b""
    good_writer.write(b"PING 7\n")
    assert await read_line(good_reader) == b"PONG 7\n"
    counters = gateway.metrics()["listeners"][0]
    assert counters["frames_bad"] == 1 and counters["closed"] == {"junk": 1}
    letters = await store.list_dead_letters(ListQuery(filters={"device_type": "echo"}))
    assert letters.total == 1
    letter = letters.items[0]
    assert (letter["data"], letter["path"], letter["ip"], letter["port"]) == (
        b"HELLO there",
        "line -> verb",
        "127.0.0.1",
        port,
    )
    assert "unknown verb" in letter["error"]
    assert "bad frame from 127.0.0.1" in caplog.text and "line -> verb" in caplog.text
    good_writer.close()
    await eventually(lambda: len(echo_plugin.closed) == 2)
    junk_logged = await store.list_exchanges(ListQuery(filters={"device_type": "echo"}))
    assert sorted(e["recv"] for e in junk_logged.items) == [b"HELLO there", b"PING 7"]


async def test_a_message_the_plugin_refuses_is_a_bad_frame_kept_with_the_rest_of_the_buffer(
    start_echo, store, echo_plugin
):
    gateway = await start_echo(on_bad_frame="close")
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"REFUSE 42\nPING 1\n")
    assert await read_until_closed(reader) == b""
    await eventually(lambda: echo_plugin.closed == ["junk"])
    counters = gateway.metrics()["listeners"][0]
    assert (counters["frames_ok"], counters["frames_bad"], counters["handler_errors"]) == (0, 1, 0)
    letter = (await store.list_dead_letters(ListQuery())).items[0]
    assert (letter["data"], letter["path"]) == (b"REFUSE 42" + b"PING 1\n", "line -> arg")
    assert "not acceptable" in letter["error"]


async def test_skip_mode_keeps_reading_after_bad_frames_and_garbage(start_echo, store):
    gateway = await start_echo(on_bad_frame="skip", log_exchanges=False)
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"###NOPE\n##PING 1\n")
    assert await read_line(reader) == b"PONG 1\n"
    counters = gateway.metrics()["listeners"][0]
    assert (counters["frames_bad"], counters["junk_bytes"], counters["dead_letters"], counters["active"]) == (
        1,
        5,
        3,
        1,
    )
    letters = await store.list_dead_letters(ListQuery(filters={"device_type": "echo"}, sort="at"))
    assert sorted(item["data"] for item in letters.items) == sorted([b"###", b"NOPE", b"##"])
    assert (await store.list_exchanges(ListQuery())).total == 0
    writer.close()


async def test_garbage_closes_in_close_mode(start_echo, echo_plugin, store):
    gateway = await start_echo()
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"####")
    assert await read_until_closed(reader) == b""
    await eventually(lambda: echo_plugin.closed == ["junk"])
    assert gateway.metrics()["listeners"][0]["junk_bytes"] == 4
    assert (await store.list_dead_letters(ListQuery())).items[0]["data"] == b"####"


async def test_garbage_that_closes_keeps_what_followed_it(start_echo, echo_plugin, store):
    gateway = await start_echo()
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"##PING 1\nPI")
    assert await read_until_closed(reader) == b""
    await eventually(lambda: echo_plugin.closed == ["junk"])
    assert (await store.list_dead_letters(ListQuery())).items[0]["data"] == b"##PING 1\nPI"
    assert gateway.metrics()["listeners"][0]["junk_bytes"] == 11


async def test_a_frame_dripped_slower_than_the_frame_timeout_is_closed(start_echo, echo_plugin, store, caplog):
    gateway = await start_echo(idle_timeout=5.0, frame_timeout=0.4)
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"PING 1\nPI")  # one whole frame, then a new one starts
    assert await read_line(reader) == b"PONG 1\n"
    with caplog.at_level(logging.WARNING, logger="specgate.gateway"):
        for _ in range(20):  # each byte well inside the idle timeout
            if reader.at_eof():
                break
            try:
                writer.write(b"N")
                await writer.drain()
            except ConnectionError:
                break  # the gateway closed the connection, which is what this test waits for
            await asyncio.sleep(0.1)
        assert await read_until_closed(reader) == b""
        await eventually(lambda: echo_plugin.closed == ["frame_timeout"])
    assert "did not complete a frame within 0.4s" in caplog.text
    letter = (await store.list_dead_letters(ListQuery())).items[0]
    assert letter["data"].startswith(b"PINN") and "not complete within" in letter["error"]


async def test_oversize_run_without_a_frame_is_closed(start_echo, echo_plugin, store, caplog):
    gateway = await start_echo(max_frame_length=32)
    port = gateway.port("echo")
    reader, writer = await connect(port)
    with caplog.at_level(logging.WARNING, logger="specgate.gateway"):
        writer.write(b"P" * 100)
        assert await read_until_closed(reader) == b""
        await eventually(lambda: echo_plugin.closed == ["oversize"])
    assert "more than 32 bytes without a complete frame" in caplog.text
    letters = await store.list_dead_letters(ListQuery())
    assert letters.items[0]["data"] == b"P" * 100
    reader, writer = await connect(port)
    writer.write(b"PING 2\n")
    assert await read_line(reader) == b"PONG 2\n"
    writer.close()


async def test_idle_connection_is_closed_and_its_partial_frame_kept(start_echo, echo_plugin, store, caplog):
    gateway = await start_echo(idle_timeout=0.3)
    reader, writer = await connect(gateway.port("echo"))
    with caplog.at_level(logging.INFO, logger="specgate.gateway"):
        writer.write(b"PIN")
        assert await read_until_closed(reader) == b""
        await eventually(lambda: echo_plugin.closed == ["idle_timeout"])
    assert "idle for 0.3s" in caplog.text
    assert gateway.metrics()["listeners"][0]["closed"] == {"idle_timeout": 1}
    letter = (await store.list_dead_letters(ListQuery())).items[0]
    assert letter["data"] == b"PIN" and "idle" in letter["error"]


async def test_max_connections_refuses_the_extra_one(start_echo, caplog):
    gateway = await start_echo(max_connections=2)
    port = gateway.port("echo")
    first = await connect(port)
    second = await connect(port)
    first[1].write(b"PING 1\n")
    second[1].write(b"PING 2\n")
    assert await read_line(first[0]) == b"PONG 1\n"
    assert await read_line(second[0]) == b"PONG 2\n"
    with caplog.at_level(logging.WARNING, logger="specgate.gateway"):
        third_reader, third_writer = await connect(port)
        assert await read_until_closed(third_reader) == b""
    assert gateway.metrics()["listeners"][0]["rejected"] == {"too_many": 1}
    assert "(too_many)" in caplog.text
    first[1].write(b"BYE\n")
    assert await read_until_closed(first[0]) == b"BYE\n"
    await eventually(lambda: gateway.metrics()["listeners"][0]["active"] == 1)
    reader, writer = await connect(port)
    writer.write(b"PING 4\n")
    assert await read_line(reader) == b"PONG 4\n"
    for w in (second[1], third_writer, writer):
        w.close()


@pytest.mark.parametrize(
    ("allow", "served"),
    [
        (["10.0.0.0/8", "192.0.2.7"], False),
        (["10.0.0.0/8", "127.0.0.0/8"], True),
        (["127.0.0.1"], True),
    ],
)
async def test_allow_list(start_echo, allow, served):
    gateway = await start_echo(allow=allow)
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"PING 1\n")
    answer = await read_until_closed(reader) if not served else await read_line(reader)
    assert answer == (b"PONG 1\n" if served else b"")
    counters = gateway.metrics()["listeners"][0]
    assert counters["rejected"] == ({} if served else {"not_allowed": 1})
    writer.close()


async def test_same_peer_replaces_its_half_open_predecessor(start_echo, echo_plugin):
    gateway = await start_echo(replace_same_peer=True)
    port = gateway.port("echo")
    old_reader, old_writer = await connect(port)
    old_writer.write(b"PING 1\n")
    assert await read_line(old_reader) == b"PONG 1\n"
    new_reader, new_writer = await connect(port)
    assert await read_until_closed(old_reader) == b""
    new_writer.write(b"PING 2\n")
    assert await read_line(new_reader) == b"PONG 2\n"
    await eventually(lambda: echo_plugin.closed == ["replaced"])
    assert gateway.metrics()["listeners"][0]["active"] == 1
    new_writer.close()


async def test_same_peer_is_not_replaced_when_the_option_is_off(start_echo):
    gateway = await start_echo(replace_same_peer=False)
    port = gateway.port("echo")
    sessions = [await connect(port) for _ in range(3)]
    for number, (reader, writer) in enumerate(sessions):
        writer.write(f"PING {number}\n".encode())
        assert await read_line(reader) == f"PONG {number}\n".encode()
    assert gateway.metrics()["listeners"][0]["active"] == 3
    for _, writer in sessions:
        writer.close()


async def test_graceful_shutdown_lets_the_in_flight_session_finish(start_echo, echo_plugin):
    gateway = await start_echo()
    port = gateway.port("echo")
    busy_reader, busy_writer = await connect(port)
    idle_reader, idle_writer = await connect(port)
    idle_writer.write(b"PING 0\n")
    assert await read_line(idle_reader) == b"PONG 0\n"
    busy_writer.write(b"SLOW 0.4\n")
    await eventually(lambda: gateway.metrics()["listeners"][0]["frames_ok"] == 2)
    stopping = asyncio.create_task(gateway.stop(grace=5))
    assert await read_until_closed(idle_reader) == b""
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    assert await read_until_closed(busy_reader) == b"SLOW DONE\n"
    await stopping
    assert sorted(echo_plugin.closed) == ["shutdown", "shutdown"]
    assert gateway.metrics()["listeners"][0]["replies"] == 2


async def test_shutdown_deadline_closes_sessions_that_do_not_finish(start_echo, echo_plugin):
    gateway = await start_echo()
    reader, writer = await connect(gateway.port("echo"))
    writer.write(b"PING")  # half a frame: busy, never completed
    await eventually(lambda: gateway.metrics()["listeners"][0]["accepted"] == 1)
    await asyncio.sleep(0.05)
    await gateway.stop(grace=0.2)
    assert await read_until_closed(reader) == b""
    assert echo_plugin.closed == ["shutdown"]
