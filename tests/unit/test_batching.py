"""TickBatcher: one call per tick, and with `max_in_flight` a group commit whose batches grow
while a call is in flight."""

from __future__ import annotations

import asyncio

import pytest

from gateway.batching import TickBatcher


class Server:
    """A `serve` that records its batches and is held open until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gates: list[asyncio.Event] = []
        self.fail: set[int] = set()

    async def __call__(self, requests: list[int]) -> list[int]:
        self.batches.append(list(requests))
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if self.fail & set(requests):
            raise RuntimeError("refused")
        return [r * 10 for r in requests]

    async def release(self, n: int) -> None:
        """Lets call n (from 0) answer, once it has started."""
        for _ in range(10):
            if len(self.gates) > n:
                break
            await asyncio.sleep(0)
        self.gates[n].set()


async def test_one_call_per_tick_without_a_limit() -> None:
    server = Server()
    batcher: TickBatcher[int, int] = TickBatcher(server)
    first = [batcher.submit(i) for i in (1, 2)]
    await asyncio.sleep(0)
    second = [batcher.submit(i) for i in (3, 4)]
    await asyncio.sleep(0)  # the tick ends: its call starts
    await asyncio.sleep(0)
    assert server.batches == [[1, 2], [3, 4]]  # both in flight at once
    await server.release(1)
    await server.release(0)
    assert await asyncio.gather(*first, *second) == [10, 20, 30, 40]


async def test_with_a_limit_the_ticks_meanwhile_wait_and_go_together() -> None:
    server = Server()
    batcher: TickBatcher[int, int] = TickBatcher(server, max_in_flight=1)
    first = batcher.submit(1)
    await asyncio.sleep(0)
    later = []
    for i in (2, 3, 4):  # three ticks while the first call is in flight
        later.append(batcher.submit(i))
        await asyncio.sleep(0)
    assert server.batches == [[1]]
    await server.release(0)
    assert await first == 10
    await server.release(1)
    assert await asyncio.gather(*later) == [20, 30, 40]
    assert server.batches == [[1], [2, 3, 4]]


async def test_a_failed_call_fails_its_own_batch_only_and_the_next_still_runs() -> None:
    server = Server()
    server.fail = {1}
    batcher: TickBatcher[int, int] = TickBatcher(server, max_in_flight=1)
    first = batcher.submit(1)
    await asyncio.sleep(0)
    second = batcher.submit(2)
    await asyncio.sleep(0)
    await server.release(0)
    with pytest.raises(RuntimeError):
        await first
    await server.release(1)
    assert await second == 20


async def test_waiters_are_cancelled_with_the_call_in_flight() -> None:
    server = Server()
    batcher: TickBatcher[int, int] = TickBatcher(server, max_in_flight=1)
    first = batcher.submit(1)
    await asyncio.sleep(0)
    waiting = batcher.submit(2)
    await asyncio.sleep(0)
    for task in list(batcher._tasks):
        task.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert first.cancelled()
    assert waiting.cancelled()
    assert server.batches == [[1]]
