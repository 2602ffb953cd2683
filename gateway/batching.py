"""Per-tick batching: what the requests of one event-loop tick ask for, sent together.

Under load tens of requests arrive in one tick of the event loop; serving them with one round
trip (one Redis write, one query, one group commit) costs far less than one each. The first
request of a tick schedules the tick's end (`call_soon`), which hands every request gathered
meanwhile to the batch's owner. `Tick` is that primitive (the claim pipeline kicks its thread
with it); `TickBatcher` runs a coroutine per batch and answers each request's future.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
Request = TypeVar("Request")
Answer = TypeVar("Answer")


class Tick(Generic[T]):
    """Collects the items added during one event-loop tick and hands them to `end` once the
    tick is over (called by the loop, outside any request)."""

    __slots__ = ("_end", "_items")

    def __init__(self, end: Callable[[list[T]], None]) -> None:
        self._end = end
        self._items: list[T] = []

    def add(self, item: T, loop: asyncio.AbstractEventLoop) -> None:
        """`loop`: the running loop, which the caller has at hand on the hot path."""
        items = self._items
        if not items:
            loop.call_soon(self._flush)
        items.append(item)

    def _flush(self) -> None:
        items, self._items = self._items, []
        self._end(items)


class TickBatcher(Generic[Request, Answer]):
    """Serves the requests submitted during one tick with one call of `serve`, run as a task,
    which answers them in order, one answer each. An exception of `serve` is every waiter's
    (not swallowed); when the task is cancelled (shutting down), so are the waiters.

    `max_in_flight`: at most that many calls of `serve` at once (a group commit). The ticks'
    requests that arrive meanwhile wait, and all of them start together as the next call when
    one ends: under load the batches grow with the time a call takes, instead of one small
    call per tick competing with the others."""

    def __init__(
        self,
        serve: Callable[[list[Request]], Awaitable[list[Answer]]],
        max_in_flight: int | None = None,
    ) -> None:
        self._serve = serve
        self._tick: Tick[tuple[Request, asyncio.Future[Answer]]] = Tick(self._start)
        self._tasks: set[asyncio.Task[None]] = set()
        self._limit = max_in_flight
        self._waiting: list[tuple[Request, asyncio.Future[Answer]]] = []

    def submit(self, request: Request) -> asyncio.Future[Answer]:
        """The future of `request`'s answer, resolved with the rest of this tick's."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answer] = loop.create_future()
        self._tick.add((request, future), loop)
        return future

    def _start(self, batch: list[tuple[Request, asyncio.Future[Answer]]]) -> None:
        if self._limit is not None and len(self._tasks) >= self._limit:
            self._waiting += batch
            return
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)  # a reference, so the task is not collected mid-flight
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._waiting:
            return
        batch, self._waiting = self._waiting, []
        if task.cancelled():  # shutting down: so are the waiters
            for _, future in batch:
                future.cancel()
            return
        self._start(batch)

    async def _run(self, batch: list[tuple[Request, asyncio.Future[Answer]]]) -> None:
        try:
            answers = await self._serve([request for request, _ in batch])
        except Exception as exc:  # noqa: BLE001 - not swallowed: every waiter of the batch gets it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (shutting down): so are the waiters
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), answer in zip(batch, answers, strict=True):
            if not future.done():
                future.set_result(answer)
