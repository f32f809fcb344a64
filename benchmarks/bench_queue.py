"""The request page's "next in queue" with many requests waiting: one query against loading the whole queue.

Run:  .venv/bin/python benchmarks/bench_queue.py [--waiting 20000]

The baseline is what `DecisionStore.next_in_queue` did before: read every waiting request in queue order, decode
each stored decision, and look for the one after in Python. Both run in this process on the same SQLite file; the
ratio is what matters, the milliseconds depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sevtriage.store import DecisionStore, QueueFilter, StoredRequest
from sevtriage.types import Deadline, Deadlines, Decision, ModelOpinion, RuleMatch, Severity, Ticket

START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def waiting_pairs(n: int) -> list[tuple[Ticket, Decision]]:
    """`n` requests, all waiting for review: four severities, deadlines for the severe ones, two plans."""
    pairs = []
    for i in range(n):
        arrived = START + timedelta(minutes=3 * i)
        severity = Severity(1 + i % 4)
        due = arrived + timedelta(hours=1 + i % 5) if severity <= 2 else None
        ticket = Ticket(
            id=f"W-{i:06d}",
            subject=f"Export {i} fails",
            body="The nightly export fails with error 500 since the upgrade. " * 3,
            received_at=arrived,
            plan="premier" if i % 3 == 0 else "standard",
        )
        decision = Decision(
            id=ticket.id,
            severity=severity,
            source="model",
            confidence=0.5,
            needs_review=True,
            review_reasons=("low_confidence",),
            matched_rules=(RuleMatch("export-broken", Severity.MEDIUM, "A broken export.", ("export fails",)),),
            model=ModelOpinion(severity, {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4}, ("export", "fails")),
            plan=ticket.plan,
            received_at=arrived,
            deadlines=Deadlines(Deadline(due, "1 business hour", "clause"), Deadline(None, None, "no target")),
            rules_version="r1",
            model_version="m1",
        )
        pairs.append((ticket, decision))
    return pairs


def whole_queue_next(store: DecisionStore, after: StoredRequest) -> str | None:
    """The former `next_in_queue` for a request still waiting: the whole queue, decoded, searched in Python."""
    ordered = store.queue(QueueFilter(), limit=None)
    ids = [r.id for r in ordered]
    position = ids.index(after.id)
    following = ordered[position + 1 :] + ordered[:position]
    return following[0].id if following else None


def median_time(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=20_000, help="requests waiting for review (default 20,000)")
    n = parser.parse_args().waiting
    folder = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    with DecisionStore.open(f"sqlite:///{folder / 'queue.db'}") as store:
        store.save_many(waiting_pairs(n))
        assert store.count_queue() == n
        # Requests from the front, the middle and the back of the queue.
        queue = store.queue(limit=None)
        probes = [queue[0], queue[len(queue) // 2], queue[-1]]
        for after in probes:
            found = store.next_in_queue(after)
            assert (found.id if found else None) == whole_queue_next(store, after)
        ours = statistics.median(median_time(lambda a=a: store.next_in_queue(a), 30) for a in probes)  # type: ignore[misc]
        base = statistics.median(median_time(lambda a=a: whole_queue_next(store, a), 3) for a in probes)  # type: ignore[misc]
    print(f"next in queue, {n:,} requests waiting, SQLite file")
    print(f"  one query, one row     {ours * 1e3:9.2f} ms")
    print(f"  whole queue (before)   {base * 1e3:9.2f} ms")
    print(f"  ratio                  {base / ours:9.0f}x faster")


if __name__ == "__main__":
    main()
