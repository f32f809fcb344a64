"""Coalesce concurrent single-request classifications into `classify_many` calls.

The rule stage and the model are much cheaper per request in a batch (the model vectorises a batch in one
call; see benchmarks/README.md). Requests that arrive while a batch is being classified wait for the next
one, so an idle service answers at once (a batch of one) and a busy one batches more: no timer, no added
latency. One batch runs at a time, in a worker thread, so the event loop keeps accepting requests.
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


def _classify(engines: Engines, tickets: list[Ticket], after: Sink | None) -> list[Decision | BaseException]:
    results = _decide(engines, tickets)
    if after is not None:
        decided: list[int] = []
        pairs: list[tuple[Ticket, Decision]] = []
        for i, (ticket, result) in enumerate(zip(tickets, results, strict=True)):
            if isinstance(result, Decision):
                decided.append(i)
                pairs.append((ticket, result))
        outcomes = after(pairs)
        # Each request is answered by its own outcome: a decision that is not stored is not answered as one.
        for i, outcome in zip(decided, outcomes, strict=True):
            if outcome is not None:
                results[i] = outcome
    return results


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

    `after` runs in the worker thread with each batch's decisions (the decision sinks: one store write per batch,
    retried row by row when it fails) and says for each whether it is stored; a request whose decision is not
    stored gets that error instead of the decision.
    """

    def __init__(self, engines: Engines, after: Sink | None = None, max_batch: int = MAX_BATCH) -> None:
        self._engines = engines
        self._after = after
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
            batch, self._waiting = self._waiting[: self._max], self._waiting[self._max :]
            self.batches += 1
            self.batched += len(batch)
            tickets = [ticket for ticket, _ in batch]
            try:
                results = await run_in_threadpool(_classify, self._engines, tickets, self._after)
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
