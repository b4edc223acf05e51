"""Micro-batching: the requests that arrive together are scored in one model call.

A pipeline call costs about the same for one row as for a hundred, so a
server scoring concurrent requests one by one spends most of its time on
fixed costs. The :class:`MicroBatcher` queues checked requests; one loop
takes what is queued, whole requests only, and scores it in one call on a
dedicated thread, so that the event loop keeps accepting and parsing
requests meanwhile: those form the next batch.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]


class Batchable(Protocol):
    """A request the batcher can queue: it knows how many rows it holds."""

    @property
    def rows(self) -> int:
        """The number of rows to score."""


Item = TypeVar("Item", bound=Batchable)
"""The type of the requests a batcher queues."""
Answer = TypeVar("Answer")
"""The type of the answer each request gets."""

ScoreBatch = Callable[[Sequence[Item]], Sequence[Answer | Exception]]
"""Scores requests in one call, giving each an answer or the error it met.

If it raises instead, every request of the call gets that error.
"""


@dataclass(frozen=True)
class _Job(Generic[Item, Answer]):
    item: Item
    future: asyncio.Future[Answer]


class MicroBatcher(Generic[Item, Answer]):
    """Scores queued requests together, off the event loop, each getting its own answer.

    The wait is adaptive: an idle batcher scores a lone request at once;
    only while it is busy (its last batch held more than one request, or
    requests are still queued) does it wait up to ``max_wait_ms`` for more
    rows to join. That one bad request never fails the others is up to
    ``score``, which answers each request on its own.

    Parameters
    ----------
    score : callable
        Scores a sequence of requests in one call; see :data:`ScoreBatch`.
        It runs on the batcher's single thread, limited to one OpenMP thread.
    max_rows : int
        Most rows in one batch; a request holding more is scored alone.
    max_wait_ms : float
        Longest wait for more rows while busy; 0 never waits.
    observe_batch : callable, optional
        Called with the requests and rows of each batch, for metrics.
    """

    def __init__(
        self,
        score: ScoreBatch[Item, Answer],
        *,
        max_rows: int,
        max_wait_ms: float,
        observe_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self._score = score
        self._max_rows = max_rows
        self._max_wait_s = max_wait_ms / 1000
        self._observe_batch = observe_batch
        self._queue: deque[_Job[Item, Answer]] = deque()
        self._queued_rows = 0
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start the scoring loop on the running event loop, and its thread."""
        self._executor = ThreadPoolExecutor(
            1,
            thread_name_prefix="scoring",
            initializer=threadpool_limits,
            initargs=(1,),
        )
        # Events belong to the loop they are first awaited on: new ones per start.
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Score what is queued, then stop the loop and its thread."""
        if self._task is None or self._executor is None:
            return
        self._stopping = True
        self._arrived.set()
        await self._task
        self._executor.shutdown()
        self._task = None

    @property
    def queued_requests(self) -> int:
        """The number of requests waiting for a batch."""
        return len(self._queue)

    async def submit(self, item: Item) -> Answer:
        """Queue the checked request ``item``; return its answer once scored.

        Raises
        ------
        Exception
            The error ``score`` gave for this request, or raised for its batch.
        RuntimeError
            If the batcher is not running.
        """
        if self._task is None or self._task.done():
            raise RuntimeError("the micro-batcher is not running")
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(item, future))
        self._queued_rows += item.rows
        if self._queued_rows >= self._max_rows:
            self._full.set()
        self._arrived.set()
        return await future

    async def _run(self) -> None:
        busy = False
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            if busy:
                await self._gather()
            batch = self._take()
            busy = len(batch) > 1 or bool(self._queue)
            if batch:
                await self._score_and_answer(batch)

    async def _gather(self) -> None:
        """Wait until a batch is full, or ``max_wait_ms`` has passed."""
        if self._max_wait_s <= 0 or self._stopping:
            return
        self._full.clear()
        if self._queued_rows >= self._max_rows:
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._full.wait(), self._max_wait_s)

    def _take(self) -> list[_Job[Item, Answer]]:
        """Dequeue whole requests up to ``max_rows`` rows (at least one request).

        Requests whose client went away (their future was cancelled) are dropped.
        """
        batch: list[_Job[Item, Answer]] = []
        rows = 0
        while self._queue:
            job = self._queue[0]
            if batch and rows + job.item.rows > self._max_rows:
                break
            self._queue.popleft()
            self._queued_rows -= job.item.rows
            if not job.future.done():
                batch.append(job)
                rows += job.item.rows
        return batch

    async def _score_and_answer(self, batch: list[_Job[Item, Answer]]) -> None:
        items = [job.item for job in batch]
        if self._observe_batch is not None:
            self._observe_batch(len(items), sum(item.rows for item in items))
        loop = asyncio.get_running_loop()
        outcomes = await loop.run_in_executor(self._executor, self._score_all, items)
        for job, outcome in zip(batch, outcomes, strict=True):
            if job.future.done():
                continue
            if isinstance(outcome, Exception):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)

    def _score_all(self, items: Sequence[Item]) -> list[Answer | Exception]:
        """Score ``items`` in one call; if it raises, each of them gets the error."""
        try:
            return list(self._score(items))
        except Exception as error:
            return [error] * len(items)
