"""The batch intake pipeline: validated requests stream through `Triage.classify_many` in fixed-size batches.

Memory stays flat: at most one batch of requests and decisions is alive, plus 16 bytes per id for the
duplicate check (`sevtriage.intake.SeenIds`). Every row ends up either as a decision or as a reject.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sevtriage.errors import SevtriageError
from sevtriage.intake.outputs import DecisionWriter, RejectsWriter, Renderer
from sevtriage.intake.readers import IntakeRules, Reject
from sevtriage.types import Decision, Ticket

if TYPE_CHECKING:
    from sevtriage.sla import SlaPolicy


class Classifier(Protocol):
    """What intake needs of a classifier (`sevtriage.Triage` is one): intake never imports the facade."""

    @property
    def sla(self) -> SlaPolicy | None: ...

    def classify(self, ticket: Ticket) -> Decision: ...

    def classify_many(self, tickets: Iterable[Ticket]) -> list[Decision]: ...


# A sink keeps decisions (the review store): for each pair, None when kept, else why not (same order); a sink
# that returns None kept them all.
Sink = Callable[[Sequence[tuple[Ticket, Decision]]], Sequence[BaseException | None] | None]
DEFAULT_BATCH_SIZE = 1000


@dataclass
class Summary:
    """What a run did. `rows == decisions + rejects` always holds."""

    rows: int = 0
    decisions: int = 0
    rejects: int = 0
    needs_review: int = 0
    by_severity: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def count(self, decisions: Sequence[Decision]) -> None:
        for decision in decisions:
            self.by_severity[decision.severity_name or "undecided"] += 1
            self.by_source[decision.source or "none"] += 1
            if decision.needs_review:
                self.needs_review += 1
        self.decisions += len(decisions)

    def add(self, other: Summary) -> None:
        """Add the decision counts of another summary (a worker's batch) to these."""
        self.decisions += other.decisions
        self.needs_review += other.needs_review
        self.by_severity.update(other.by_severity)
        self.by_source.update(other.by_source)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "decisions": self.decisions,
            "rejects": self.rejects,
            "needs_review": self.needs_review,
            "by_severity": dict(sorted(self.by_severity.items())),
            "by_source": dict(sorted(self.by_source.items())),
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        """The summary in plain words, for the end of a CLI run."""
        order = ["critical", "high", "medium", "low", "undecided"]
        severities = ", ".join(f"{name} {self.by_severity[name]}" for name in order if self.by_severity[name])
        sources = ", ".join(f"{name} {count}" for name, count in sorted(self.by_source.items()))
        share = f" ({100 * self.needs_review / self.decisions:.1f}%)" if self.decisions else ""
        return [
            f"{self.rows} rows: {self.decisions} decisions, {self.rejects} rejected "
            f"in {self.seconds:.1f} s ({self.rate:,.0f} rows/s)",
            f"by severity: {severities or '-'}",
            f"by source: {sources or '-'}",
            f"needs review: {self.needs_review}{share}",
        ]


def intake_rules_for(triage: Classifier) -> IntakeRules:
    """Plans and the default plan from the triage's SLA policy."""
    return IntakeRules.from_policy(triage.sla)


def _classify_batch(
    triage: Classifier, batch: list[tuple[int, Ticket]]
) -> tuple[list[tuple[Ticket, Decision]], list[Reject]]:
    tickets = [t for _, t in batch]
    try:
        decisions = triage.classify_many(tickets)
        return list(zip(tickets, decisions, strict=True)), []
    except Exception:
        # One request that breaks the classifier must not take its batch down: retry one by one.
        pairs: list[tuple[Ticket, Decision]] = []
        failed: list[Reject] = []
        for line, ticket in batch:
            try:
                pairs.append((ticket, triage.classify(ticket)))
            except SevtriageError as error:  # the request's own fault, e.g. a deadline past the calendar's end
                failed.append(Reject(line, ticket.text, str(error), ticket.id))
            except Exception as error:
                failed.append(
                    Reject(line, ticket.text, f"internal error while classifying: {type(error).__name__}", ticket.id)
                )
        return pairs, failed


def _keep(
    pairs: list[tuple[Ticket, Decision]],
    failed: list[Reject],
    lines: dict[str, int],
    sinks: Sequence[Sink],
) -> list[tuple[Ticket, Decision]]:
    """Hand a batch to the sinks; what a sink could not keep moves to `failed` (sorted by line at the end)."""
    for sink in sinks:
        # A decision a sink could not keep is a reject (with the reason, never the database's own text), not
        # an output row: in = out + rejects holds, and the rejects file is what to send again.
        outcomes = sink(pairs)
        if outcomes is None:
            continue
        kept: list[tuple[Ticket, Decision]] = []
        for (ticket, decision), outcome in zip(pairs, outcomes, strict=True):
            if outcome is None:
                kept.append((ticket, decision))
            else:
                failed.append(Reject(lines[ticket.id], ticket.text, f"not stored: {outcome}", ticket.id))
        pairs = kept
    failed.sort(key=lambda r: r.line)
    return pairs


def run(
    triage: Classifier,
    items: Iterable[tuple[int, Ticket] | Reject],
    writer: DecisionWriter,
    rejects: RejectsWriter,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    sinks: Sequence[Sink] = (),
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Classify validated requests in batches; write decisions and rejects; return the counts."""
    with long_lived_left_out_of_collections():
        return _run(triage, items, writer, rejects, batch_size=batch_size, sinks=sinks, progress=progress)


# The young generation's collection threshold while a run lasts (CPython's default is 700). A batch keeps about ten
# containers per request alive until it is written, so at 700 the collector ran several times a batch and cost about
# 3% of the CPU time (benchmarks/README.md); the requests' objects hold no cycles, and what is freed is freed by its
# reference count whatever this threshold is.
RUN_YOUNG_THRESHOLD = 50_000

_runs_lock = threading.Lock()
_runs_inside = 0  # runs of this process inside `long_lived_left_out_of_collections` now
_runs_undo: tuple[tuple[int, int, int], bool] | None = None  # the thresholds to put back, and whether to unfreeze


def _collect_young_seldom() -> tuple[int, int, int]:
    """Raise the young generation's threshold to `RUN_YOUNG_THRESHOLD` (never lower it); the thresholds before."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], RUN_YOUNG_THRESHOLD), before[1], before[2])
    return before


@contextmanager
def long_lived_left_out_of_collections() -> Iterator[None]:
    """While inside, the objects alive on entry (the loaded rules, model and caches: about 100,000 of them) are
    left out of the cyclic garbage collector's passes (`gc.freeze`), and young objects are collected less often
    (`RUN_YOUNG_THRESHOLD`); both are put back on exit.

    A batch allocates many small containers, which triggers collections; each full one walked the loaded
    classifier too, about a tenth of a batch's CPU time (benchmarks/README.md). When the caller froze objects
    itself, they stay frozen. Both settings belong to the process, so runs that overlap (in threads) change them
    when the first starts and put them back when the last ends.
    """
    global _runs_inside, _runs_undo
    with _runs_lock:
        if _runs_inside == 0:
            thresholds = _collect_young_seldom()
            unfreeze = not gc.get_freeze_count()
            if unfreeze:
                gc.freeze()
            _runs_undo = (thresholds, unfreeze)
        _runs_inside += 1
    try:
        yield
    finally:
        with _runs_lock:
            _runs_inside -= 1
            if _runs_inside == 0 and _runs_undo is not None:
                thresholds, unfreeze = _runs_undo
                _runs_undo = None
                gc.set_threshold(*thresholds)
                if unfreeze:
                    gc.unfreeze()


def _run(
    triage: Classifier,
    items: Iterable[tuple[int, Ticket] | Reject],
    writer: DecisionWriter,
    rejects: RejectsWriter,
    *,
    batch_size: int,
    sinks: Sequence[Sink],
    progress: Callable[[int], None] | None,
) -> Summary:
    summary = Summary()
    started = time.perf_counter()
    batch: list[tuple[int, Ticket]] = []

    def flush() -> None:
        lines = {ticket.id: line for line, ticket in batch}
        pairs, failed = _classify_batch(triage, batch)
        batch.clear()
        pairs = _keep(pairs, failed, lines, sinks)
        writer.write(pairs)
        for reject in failed:
            rejects.write(reject)
        summary.rejects += len(failed)
        summary.count([d for _, d in pairs])
        if progress is not None:
            progress(summary.rows)

    for item in items:
        summary.rows += 1
        if isinstance(item, Reject):
            rejects.write(item)
            summary.rejects += 1
            continue
        batch.append(item)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    writer.close()
    rejects.close()
    summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress(summary.rows)
    return summary


# -- several processes ---------------------------------------------------------------------------------------------
#
# The parent reads and validates (line numbers, the duplicate-id check and the order of rejects need one reader),
# hands whole batches to worker processes and writes their results in input order. A worker renders its batch's
# output text itself when the writer allows it, so the parent only reads and writes: this is what lets the
# workers scale. A loaded rules engine cannot be pickled, so each worker has its own classifier: inherited
# when processes are forked (Linux), loaded by `load` in each worker otherwise.

_worker_classifier: Classifier | None = None


def _start_worker(load: Callable[[], Classifier]) -> None:
    global _worker_classifier
    if _worker_classifier is None:
        _worker_classifier = load()
    # A worker lives for one run: its classifier (loaded or inherited) stays out of the collector's passes, and it
    # collects young objects as seldom as a run in one process does.
    gc.freeze()
    _collect_young_seldom()


@dataclass(frozen=True, slots=True)
class _BatchResult:
    text: str | None  # the rendered output, or None when the parent writes the decisions itself
    decisions: list[Decision | None] | None  # per request of the batch (None = failed), when asked for
    failed: list[Reject]
    summary: Summary


def _work(batch: list[tuple[int, Ticket]], renderer: Renderer | None, want_decisions: bool) -> _BatchResult:
    assert _worker_classifier is not None
    pairs, failed = _classify_batch(_worker_classifier, batch)
    summary = Summary()
    summary.count([d for _, d in pairs])
    decisions: list[Decision | None] | None = None
    if want_decisions or renderer is None:
        by_ticket = {id(ticket): decision for ticket, decision in pairs}
        decisions = [by_ticket.get(id(ticket)) for _, ticket in batch]
    return _BatchResult(renderer.render(pairs) if renderer is not None else None, decisions, failed, summary)


def run_parallel(
    triage: Classifier,
    load: Callable[[], Classifier],
    items: Iterable[tuple[int, Ticket] | Reject],
    writer: DecisionWriter,
    rejects: RejectsWriter,
    *,
    workers: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    sinks: Sequence[Sink] = (),
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """`run` with the batches classified in `workers` processes; the same output, rejects and summary.

    `triage` is the loaded classifier (forked workers inherit it); `load` builds an equal one in a worker
    process where processes cannot be forked. Input order is kept: results are written as they come due.
    """
    import multiprocessing
    from collections import deque
    from concurrent.futures import Future, ProcessPoolExecutor

    global _worker_classifier
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    if context.get_start_method() == "fork":
        _worker_classifier = triage
    render = getattr(writer, "renderer", None)
    # With sinks (the review store) the main process keeps the decisions first and writes only what they kept.
    renderer: Renderer | None = render() if callable(render) and not sinks else None
    want_decisions = renderer is None

    summary = Summary()
    started = time.perf_counter()
    pending: deque[Reject | tuple[Future[_BatchResult], list[tuple[int, Ticket]]]] = deque()
    batch: list[tuple[int, Ticket]] = []

    def settle(item: Reject | tuple[Future[_BatchResult], list[tuple[int, Ticket]]]) -> None:
        if isinstance(item, Reject):
            rejects.write(item)
            return
        future, done = item
        result = future.result()
        failed = list(result.failed)
        if result.text is not None:
            writer.write_text(result.text)  # type: ignore[attr-defined]
            summary.add(result.summary)
        else:
            assert result.decisions is not None
            pairs = [(t, d) for (_, t), d in zip(done, result.decisions, strict=True) if d is not None]
            pairs = _keep(pairs, failed, {ticket.id: line for line, ticket in done}, sinks)
            writer.write(pairs)
            summary.count([d for _, d in pairs])
        for reject in failed:
            rejects.write(reject)
        summary.rejects += len(failed)
        if progress is not None:
            progress(summary.decisions + summary.rejects)

    def drain(limit: int) -> None:
        # Write everything at the head that is ready; wait while more than `limit` batches are in flight.
        while pending:
            head = pending[0]
            in_flight = sum(1 for item in pending if not isinstance(item, Reject))
            if isinstance(head, Reject) or head[0].done() or in_flight > limit:
                settle(pending.popleft())
            else:
                return

    pool: ProcessPoolExecutor | None = None

    def submit(work: list[tuple[int, Ticket]]) -> None:
        nonlocal pool
        if pool is None:
            # Started at the first full batch: a small file is classified here, without starting processes.
            pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(load,))
        pending.append((pool.submit(_work, work, renderer, want_decisions), work))

    try:
        for item in items:
            summary.rows += 1
            if isinstance(item, Reject):
                summary.rejects += 1
                pending.append(item)
                continue
            batch.append(item)
            if len(batch) >= batch_size:
                submit(batch)
                batch = []
                drain(2 * workers)
        if batch and pool is None:
            local: Future[_BatchResult] = Future()
            _worker_classifier = triage
            local.set_result(_work(batch, renderer, want_decisions))
            pending.append((local, batch))
        elif batch:
            submit(batch)
        drain(0)
    finally:
        _worker_classifier = None
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    writer.close()
    rejects.close()
    summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress(summary.rows)
    return summary
