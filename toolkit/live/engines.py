"""Live engines: the kernel's data, risk and execution engines behind bounded asyncio queues.

On a live node, market data, commands and execution events arrive from network tasks and from
strategy callbacks. Each stream goes through a `MessageQueue` of `qsize` items with one consumer
task that hands items, in order, to the kernel engine (the same code the backtest runs). A full
queue applies backpressure: an async producer waits (`await put`), a synchronous one (a strategy
sending a command from a callback) parks the item in an overflow task; nothing is dropped and every
full queue is logged with its size. `wait_until_idle` lets the node (and lockstep clients) wait
until everything queued has been processed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from toolkit.core.log import Logger


class MessageQueue:
    """A bounded FIFO with one consumer task; see the module docstring."""

    def __init__(
        self,
        name: str,
        qsize: int,
        handler: Callable[[Any], None],
        log: Logger,
        on_error: Callable[[BaseException, Any], None],
        before: Callable[[Any], Awaitable[None]] | None = None,
    ) -> None:
        if qsize < 1:
            raise ValueError(f"{name}: qsize must be at least 1, got {qsize}")
        self.name = name
        self.qsize = qsize
        self._handler = handler
        self._log = log
        self._on_error = on_error
        self._before = before  # awaited before each item is handled (e.g. persist an order before sending it)
        self._queue: asyncio.Queue[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._overflow: set[asyncio.Task[None]] = set()
        self.processed = 0
        self.full_events = 0

    def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.qsize)
        self._task = asyncio.get_running_loop().create_task(self._consume(), name=f"{self.name}-consumer")

    @property
    def size(self) -> int:
        return 0 if self._queue is None else self._queue.qsize()

    def _require(self) -> asyncio.Queue[Any]:
        if self._queue is None:
            raise RuntimeError(f"{self.name} queue is not started")
        return self._queue

    async def put(self, item: Any) -> None:
        """Enqueue, waiting while the queue is full (backpressure on the producer)."""
        queue = self._require()
        if queue.full():
            self.full_events += 1
            self._log.warning("%s queue full (%d items): producer waits", self.name, self.qsize)
        await queue.put(item)

    def put_nowait(self, item: Any) -> None:
        """Enqueue from synchronous code; when full, park the item in a task that waits for room."""
        queue = self._require()
        if self._overflow or queue.full():
            # Keep FIFO order behind items already parked.
            self.full_events += 1
            self._log.warning("%s queue full (%d items): item parked until there is room", self.name, self.qsize)
            task = asyncio.get_running_loop().create_task(self._park(item))
            self._overflow.add(task)
            task.add_done_callback(self._overflow.discard)
            return
        queue.put_nowait(item)

    async def _park(self, item: Any) -> None:
        await self._require().put(item)

    async def _consume(self) -> None:
        queue = self._require()
        while True:
            item = await queue.get()
            try:
                if self._before is not None:
                    await self._before(item)
                self._handler(item)
            except Exception as exc:
                self._on_error(exc, item)
            finally:
                self.processed += 1
                queue.task_done()

    async def join(self) -> None:
        """Wait until every item put so far (including parked ones) has been handled."""
        while self._overflow:
            await asyncio.gather(*list(self._overflow), return_exceptions=True)
        await self._require().join()

    def is_idle(self) -> bool:
        return not self._overflow and (self._queue is None or self._queue.qsize() == 0)

    async def stop(self) -> None:
        for task in list(self._overflow):
            task.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
