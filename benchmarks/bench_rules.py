"""Rule-stage throughput: the durable-rules engine against the plain-Python evaluator, in one run.

    python benchmarks/bench_rules.py [--requests 20000] [--repeat 3] [--data data/corpus/en/part-01.jsonl ...]

Requests are the bundled rule file's examples (English, Slovak, Czech; short and e-mail shaped),
or the rows of the given labelled CSV/JSONL files (real e-mail lengths), cycled and made unique.
Two measurements per engine, best of `--repeat`:
- stage: `RuleStage.evaluate_many` (signal matching in Python + the engine + the verdict);
- engine only: `match_many` on precomputed facts, which isolates the rule evaluation itself.
The plain-Python evaluator is the baseline; ratios are durable / python.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from pathlib import Path

from sevtriage.cli.rules_cmd import read_labelled
from sevtriage.rule_stage import RuleStage
from sevtriage.types import Ticket


def _best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--data", type=Path, nargs="*", default=[], help="labelled CSV/JSONL files to take requests from"
    )
    args = parser.parse_args()

    stages = {name: RuleStage.load(engine=name) for name in ("python", "durable")}
    if args.data:
        sources = [(t.subject, t.body, dict(t.extra)) for path in args.data for t, _ in read_labelled(path)]
        origin = ", ".join(str(p) for p in args.data)
    else:
        sources = [(e.subject, e.text, dict(e.fields)) for e in stages["python"].book.all_examples()]
        origin = "the rule file's examples"
    tickets = [
        Ticket(
            id=str(i),
            subject=sources[i % len(sources)][0],
            body=f"{sources[i % len(sources)][1]} (#{i})",
            extra=sources[i % len(sources)][2],
        )
        for i in range(args.requests)
    ]
    mean_chars = sum(len(t.subject) + len(t.body) for t in tickets) / len(tickets)
    facts = [stages["python"].compiled.fact(f.signals, f.fields) for f in map(stages["python"].facts, tickets)]

    print(f"rule stage benchmark: {args.requests} requests, best of {args.repeat}, Python {platform.python_version()}")
    print(f"rules {stages['python'].version}: {len(stages['python'].book.rules)} rules")
    print(f"requests from {origin}: {len(sources)} distinct, {mean_chars:.0f} characters on average")
    results: dict[str, dict[str, float]] = {}
    for name, stage in stages.items():
        stage.evaluate_many(tickets[:500])  # warm caches
        engine = stage.engine
        results[name] = {
            "stage": args.requests / _best(args.repeat, lambda s=stage: s.evaluate_many(tickets)),
            "engine": args.requests / _best(args.repeat, lambda e=engine: e.match_many(facts)),
        }
    same = stages["python"].evaluate_many(tickets) == stages["durable"].evaluate_many(tickets)
    print(f"{'':14}{'python (baseline)':>20}{'durable':>14}{'durable/python':>16}")
    for kind in ("stage", "engine"):
        py, du = results["python"][kind], results["durable"][kind]
        label = "stage req/s" if kind == "stage" else "engine req/s"
        print(f"{label:14}{py:>20,.0f}{du:>14,.0f}{du / py:>16.2f}")
    print(f"identical verdicts from both engines: {same}")


if __name__ == "__main__":
    main()
