"""Coalesce concurrent single-request classifications into `classify_many` calls.

The rule stage and the model are much cheaper per request in a batch (the model vectorises a batch in one
call; see benchmarks/README.md). Requests that arrive while a batch is being classified wait for the next
one, so an idle service answers at once (a batch of one) and a busy one batches more: no timer, no added
latency. One batch runs at a time.

The batch is classified on the event loop itself; only the decision sinks (the store's writes, which wait for a
database) run in a worker thread, so the loop keeps serving while they wait. Classification holds the interpreter
lock throughout, so a worker thread for it let the loop run only in the lock's 5 ms switch slices, and every
hand-off of the lock cost both threads time: measured with one worker under 10 clients, classifying on the loop took a
request from 0.77 to 0.57 ms of CPU and p99 from 11.3 to 8.5 ms (benchmarks/README.md, issue 13 target 2).
Requests that arrive meanwhile wait in the socket buffers and join the next batch, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from fastapi.concurrency import run_in_threadpool

from sevtriage.api.engines import Engines
from sevtriage.types import Decision, Ticket

MAX_BATCH = 64


# The sinks of a batch: for each pair handed in, None when it is stored, else why not (same order).
Sink = Callable[[list[tuple[Ticket, Decision]]], Sequence[BaseException | None]]


def _classify(engines: Engines, tickets: list[Ticket]) -> tuple[list[Decision | BaseException], list[int]]:
    """The batch's results, and the positions of those that are decisions (for the sinks)."""
    results = _decide(engines, tickets)
    return results, [i for i, result in enumerate(results) if isinstance(result, Decision)]


def _store(
    after: Sink, tickets: list[Ticket], results: list[Decision | BaseException], decided: list[int]
) -> list[Decision | BaseException]:
    """Hand the decisions to the sinks (in a worker thread); a decision that is not stored is not answered as one."""
    pairs: list[tuple[Ticket, Decision]] = []
    for i in decided:
        result = results[i]
        assert isinstance(result, Decision)
        pairs.append((tickets[i], result))
    outcomes = after(pairs)
    answered = list(results)
    for i, outcome in zip(decided, outcomes, strict=True):
        if outcome is not None:
            answered[i] = outcome
    return answered


def _decide(engines: Engines, tickets: list[Ticket]) -> list[Decision | BaseException]:
    triage = engines.current.triage
    try:
        return list(triage.classify_many(tickets))
    except Exception:
        # One request that breaks the classifier must not fail the others that happened to share its batch.
        results: list[Decision | BaseException] = []
        for ticket in tickets:
            try:
                results.append(triage.classify(ticket))
            except Exception as error:
                results.append(error)
        return results


class Batcher:
    """`await batcher.classify(ticket)`; call from the event loop only.

    `after` runs in a worker thread with each batch's decisions (the decision sinks: one store write per batch,
    retried row by row when it fails) and says for each whether it is stored; a request whose decision is not
    stored gets that error instead of the decision. It is skipped while `has_sinks()` is false (no store: no
    thread hand-off at all).
    """

    def __init__(
        self,
        engines: Engines,
        after: Sink | None = None,
        max_batch: int = MAX_BATCH,
        has_sinks: Callable[[], bool] = lambda: True,
    ) -> None:
        self._engines = engines
        self._after = after
        self._has_sinks = has_sinks
        self._max = max_batch
        self._waiting: list[tuple[Ticket, asyncio.Future[Decision]]] = []
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0
        self.batched = 0

    async def classify(self, ticket: Ticket) -> Decision:
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._waiting.append((ticket, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            # One turn of the loop first: requests already received but not yet parsed join this batch.
            await asyncio.sleep(0)
            batch, self._waiting = self._waiting[: self._max], self._waiting[self._max :]
            self.batches += 1
            self.batched += len(batch)
            tickets = [ticket for ticket, _ in batch]
            try:
                results, decided = _classify(self._engines, tickets)
                if self._after is not None and decided and self._has_sinks():
                    results = await run_in_threadpool(_store, self._after, tickets, results, decided)
            except asyncio.CancelledError:  # shutting down: nobody may wait forever
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as error:
                results = [error] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the client went away
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
