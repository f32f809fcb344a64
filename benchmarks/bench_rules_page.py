"""The desk's Rules page on a store of many decisions: its per-rule queries, and a what-if.

Run:  .venv/bin/python benchmarks/bench_rules_page.py [--n 20000] [--store URL]

The store is filled with `n` requests made from the corpus texts (data/corpus, repeated under new ids, arriving
over several weeks), classified by the real rules (bundled file), a quarter of them reviewed (every third review
a change). Then it times, in the same run:

- the page's store work (`rule_counts`, `recent_overrides`, `rule_reloads`) against the baseline the agreement
  page already pays: `DecisionStore.reviewed()`, which loads the reviewed requests to count overrides per rule
  in Python;
- a what-if (`run_whatif`: the live rules and an edited copy over every stored request, with the SLA load)
  against its floor: one rule stage evaluating the same requests once (a what-if needs two such passes);
- what keeping `rule_matches` costs `save_many` (the service's write path): 5,000 suggestions of
  `bench_store.py` saved with it and with it switched off (best of 3 each, alternating).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sevtriage.resources import default_rules_path
from sevtriage.review.whatif import read_candidate, run_whatif
from sevtriage.rules.rulebook import load_rulebook
from sevtriage.rules.stage import RuleStage
from sevtriage.store import DecisionStore
from sevtriage.types import Decision, Severity, Ticket

START = datetime(2026, 10, 5, 7, 0, tzinfo=UTC)


def corpus_texts() -> list[tuple[str, str]]:
    texts = []
    for path in sorted(Path("data/corpus").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                texts.append((str(row.get("subject") or ""), str(row.get("body") or "")))
    return texts


def fill(url: str, n: int) -> None:
    texts = corpus_texts()
    stage = RuleStage.load()
    tickets = [
        Ticket(
            id=f"H-{i:06d}",
            subject=texts[i % len(texts)][0],
            body=texts[i % len(texts)][1],
            received_at=START + timedelta(minutes=17 * i),
            plan="premier" if i % 3 == 0 else "standard",
        )
        for i in range(n)
    ]
    verdicts = stage.evaluate_many(tickets)
    pairs = []
    for ticket, verdict in zip(tickets, verdicts, strict=True):
        severity = verdict.severity if verdict.confident else None
        pairs.append(
            (
                ticket,
                Decision(
                    id=ticket.id,
                    severity=severity,
                    source="rules" if severity is not None else None,
                    confidence=0.9 if severity is not None else 0.0,
                    needs_review=severity is None or ticket.id.endswith("7"),
                    review_reasons=() if severity is not None else ("no_rule",),
                    matched_rules=tuple(verdict.matches),
                    model=None,
                    plan=ticket.plan,
                    received_at=ticket.received_at,
                    deadlines=None,
                    rules_version=stage.version,
                    model_version=None,
                ),
            )
        )
    with DecisionStore.open(url) as store:
        store.save_many(pairs)
        for k, (ticket, decision) in enumerate(pairs[::4]):
            suggested = decision.severity
            if k % 3 == 0 or suggested is None:
                other = Severity(1 + (int(suggested or 1) % 4))
                store.review(ticket.id, actor="bench", expected_version=1, action="change", severity=other, reason="x")
            else:
                store.review(ticket.id, actor="bench", expected_version=1, action="accept")
        store.record_reload(
            actor="bench", outcome="applied", rules_version=stage.version, rules_sha256=stage.book.digest,
            rules_path=str(default_rules_path()),
        )  # fmt: skip


def save_cost(n: int = 5000) -> tuple[float, float]:
    """Seconds per request of `save_many` without and with the `rule_matches` rows."""
    import sys

    import sevtriage.store.store as store_module

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_store import make_pairs

    real = store_module._replace_matches
    pairs = make_pairs(n)

    def once(rows: bool) -> float:
        store_module._replace_matches = real if rows else (lambda *_a, **_k: None)  # type: ignore[assignment]
        try:
            with tempfile.TemporaryDirectory() as folder, DecisionStore.open(f"sqlite:///{Path(folder) / 's.db'}") as s:
                started = time.perf_counter()
                s.save_many(pairs)
                return time.perf_counter() - started
        finally:
            store_module._replace_matches = real

    without, with_rows = [], []
    for _ in range(3):
        without.append(once(False))
        with_rows.append(once(True))
    return min(without) / n, min(with_rows) / n


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--store", default=None, help="SQLAlchemy URL (default: a SQLite file in a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.store or f"sqlite:///{Path(folder) / 'bench.db'}"
        started = time.perf_counter()
        fill(url, args.n)
        print(f"filled {args.n} decisions in {time.perf_counter() - started:.1f} s ({url.split(':')[0]})")
        with DecisionStore.open(url) as store:
            baseline = best_of(5, store.reviewed)

            def page() -> None:
                store.rule_counts()
                store.recent_overrides()
                store.rule_reloads()

            page_time = best_of(5, page)
            rules = len(store.rule_counts())
        print(f"baseline reviewed() (the agreement page's load): {baseline * 1000:.1f} ms")
        print(f"Rules page store work ({rules} rule/severity rows): {page_time * 1000:.1f} ms "
              f"= {page_time / baseline:.2f}x baseline")  # fmt: skip

        live = load_rulebook(default_rules_path())
        edited = re.sub(
            r"(  - id: serious-performance\n    severity:) 2", r"\1 3", default_rules_path().read_text(encoding="utf-8")
        )
        candidate = read_candidate(edited.encode("utf-8"))
        with DecisionStore.open(url) as store:
            tickets = [t for t, _ in store.diff_requests()]
        floor_stage = RuleStage(live)
        floor = best_of(1, lambda: floor_stage.evaluate_many(tickets))
        started = time.perf_counter()
        result = run_whatif(url, live, candidate, None, None)
        whatif = time.perf_counter() - started
        print(f"floor: one rule stage over {len(tickets)} stored requests: {floor:.2f} s")
        print(f"what-if over {result.diff.rows} requests: {whatif:.2f} s = {whatif / floor:.2f}x floor; "
              f"{len(result.diff.changes)} change verdict")  # fmt: skip
    without, with_rows = save_cost()
    print(f"save_many: {with_rows * 1e6:.0f} us per request with rule_matches, {without * 1e6:.0f} us without "
          f"({with_rows / without:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
