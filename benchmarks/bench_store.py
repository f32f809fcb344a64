"""Decision store: saving a batch of suggestions and reading the review queue, against plain sqlite3.

Run:  .venv/bin/python benchmarks/bench_store.py [--n 10000]

The baseline writes the same rows (id, text, the decision as JSON, the due time) with the standard library's
sqlite3 in one transaction, and reads the 200 most urgent with one indexed query: the least any store must do.
The ratio says what SQLAlchemy, migrations, history rows and the queue's ordering cost on top.
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sevtriage.store import DecisionStore
from sevtriage.store.codec import decision_to_json
from sevtriage.types import Deadline, Deadlines, Decision, ModelOpinion, RuleMatch, Severity, Ticket

START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def make_pairs(n: int) -> list[tuple[Ticket, Decision]]:
    pairs = []
    for i in range(n):
        arrived = START + timedelta(minutes=7 * i)
        severity = Severity(1 + i % 4)
        due = arrived + timedelta(hours=1 + i % 5) if severity <= 2 else None
        ticket = Ticket(
            id=f"B-{i:06d}",
            subject=f"Export {i} fails",
            body="The nightly export fails with error 500 since the upgrade. " * 4,
            received_at=arrived,
            plan="premier" if i % 3 == 0 else "standard",
            extra={"channel": "mail", "customer": f"C-{i % 97}"},
        )
        decision = Decision(
            id=ticket.id,
            severity=severity,
            source="model" if i % 2 else "rules",
            confidence=0.6,
            needs_review=i % 3 != 0,
            review_reasons=("low_confidence",) if i % 3 else (),
            matched_rules=(RuleMatch("export-broken", Severity.MEDIUM, "A broken export.", ("export fails",)),),
            model=ModelOpinion(severity, {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.4}, ("export", "fails", "upgrade")),
            plan=ticket.plan,
            received_at=arrived,
            deadlines=Deadlines(Deadline(due, "1 business hour", "clause"), Deadline(None, None, "no target")),
            rules_version="r1",
            model_version="m1",
        )
        pairs.append((ticket, decision))
    return pairs


def best_of(runs: int, setup: Callable[[], object], work: Callable[[object], object]) -> float:
    times = []
    for _ in range(runs):
        state = setup()
        gc.collect()
        gc.disable()
        began = time.perf_counter()
        work(state)
        times.append(time.perf_counter() - began)
        gc.enable()
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="requests in the batch (default 10,000)")
    n = parser.parse_args().n
    pairs = make_pairs(n)
    folder = Path(tempfile.mkdtemp(prefix="bench-store-"))
    counter = iter(range(10**6))

    def fresh_sqlite() -> sqlite3.Connection:
        conn = sqlite3.connect(folder / f"base-{next(counter)}.db")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(
            "CREATE TABLE r (id TEXT PRIMARY KEY, subject TEXT, body TEXT, fields TEXT, decision TEXT, due TEXT)"
        )
        conn.execute("CREATE INDEX ix ON r (due)")
        return conn

    def base_save(conn: object) -> None:
        assert isinstance(conn, sqlite3.Connection)
        with conn:
            conn.executemany(
                "INSERT INTO r VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        t.id,
                        t.subject,
                        t.body,
                        json.dumps(dict(t.extra)),
                        decision_to_json(d),
                        d.deadlines.initial_response.due.isoformat()
                        if d.deadlines and d.deadlines.initial_response.due
                        else None,
                    )
                    for t, d in pairs
                ],
            )

    def fresh_store() -> DecisionStore:
        return DecisionStore.open(f"sqlite:///{folder / f'store-{next(counter)}.db'}")

    def store_save(store: object) -> None:
        assert isinstance(store, DecisionStore)
        store.save_many(pairs)

    base = best_of(3, fresh_sqlite, base_save)
    ours = best_of(3, fresh_store, store_save)

    store = fresh_store()
    store.save_many(pairs)
    began = time.perf_counter()
    unchanged = store.save_many(pairs)
    resave = time.perf_counter() - began
    assert unchanged == 0

    baseline_conn = fresh_sqlite()
    base_save(baseline_conn)
    base_queue = min(
        _timed(lambda: baseline_conn.execute("SELECT * FROM r WHERE due IS NOT NULL ORDER BY due LIMIT 200").fetchall())
        for _ in range(20)
    )
    queue_page = min(_timed(lambda: (store.queue(), store.count_queue(), store.queue_facets())) for _ in range(20))
    waiting = store.queue(limit=200)
    review_times = []
    for item in waiting:
        began = time.perf_counter()
        store.review(item.id, actor="bench", expected_version=item.version, action="accept")
        review_times.append(time.perf_counter() - began)

    print(f"decision store, {n:,} requests ({store.count_queue():,} still waiting for review), SQLite file")
    print(
        f"  save_many            {ours / n * 1e6:8.1f} µs per request  (plain sqlite3: {base / n * 1e6:.1f} µs;"
        f" ratio {ours / base:.1f}x)"
    )
    print(f"  save the same again  {resave / n * 1e6:8.1f} µs per request  (nothing changes, nothing written)")
    print(
        f"  queue page data      {queue_page * 1e3:8.1f} ms  (200 most urgent + count + filter menus;"
        f" plain sqlite3 top 200: {base_queue * 1e3:.1f} ms; ratio {queue_page / base_queue:.1f}x)"
    )
    print(
        f"  one review action    {statistics.median(review_times) * 1e3:8.2f} ms median over {len(review_times)}"
        " (read, check version, update, history row, commit)"
    )
    store.close()


def _timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
