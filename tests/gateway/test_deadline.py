"""The read deadline of device sessions behaves as ``asyncio.timeout_at``."""

import asyncio

import pytest

from core.gateway.deadline import Deadline


def new_deadline() -> Deadline:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task(loop)
    assert task is not None
    return Deadline(loop, task)


async def test_an_await_past_the_deadline_raises_timeout_error_and_the_task_is_not_left_cancelled():
    deadline = new_deadline()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError), deadline.at(started + 0.05):
        await asyncio.sleep(10)
    assert 0.04 <= loop.time() - started < 1
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # no cancellation is still pending


async def test_one_deadline_serves_many_awaits_and_lets_go_of_its_timer():
    deadline = new_deadline()
    loop = asyncio.get_running_loop()
    for value in range(3):
        with deadline.at(loop.time() + 0.05):
            assert await asyncio.sleep(0.001, value) == value
    # the timers of the blocks that ended are cancelled: sleeping past them cancels nothing
    await asyncio.sleep(0.1)
    with pytest.raises(TimeoutError), deadline.at(loop.time()):  # already passed: expires at the next iteration
        await asyncio.sleep(1)


async def test_a_cancellation_from_elsewhere_stays_a_cancellation():
    entered = asyncio.Event()

    async def reader() -> None:
        with new_deadline().at(asyncio.get_running_loop().time() + 10):
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(reader())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_from_elsewhere_after_the_deadline_passed_is_not_swallowed():
    async def reader() -> None:
        deadline = new_deadline()
        with deadline.at(asyncio.get_running_loop().time() + 0.01):
            try:
                await asyncio.sleep(10)
            finally:
                asyncio.current_task().cancel()  # type: ignore[union-attr]  # a shutdown, say, at the same time

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(reader())
