"""Rule-stage throughput: the durable-rules engine against the plain-Python evaluator, in one run.

    python benchmarks/bench_rules.py [--requests 20000] [--repeat 3] [--data data/corpus/en/part-01.jsonl ...]

Requests are the bundled rule file's examples (English, Slovak, Czech; short and e-mail shaped),
or the rows of the given labelled CSV/JSONL files (real e-mail lengths), cycled and made unique.
Measurements, best of `--repeat`:
- signals: `SignalMatcher.spans` (the word index) against a plain scan of each signal's whole-word
  alternation with `finditer` (the baseline, on the first 2,000 requests), which must find the same spans;
- stage: `RuleStage.evaluate_many` (signal matching in Python + the engine + the verdict);
- engine only: `match_many` on precomputed facts, which isolates the rule evaluation itself.
The plain-Python evaluator is the engines' baseline; ratios are durable / python.
"""

from __future__ import annotations

import argparse
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path

from sevtriage.cli.rules_cmd import read_labelled
from sevtriage.rules.rulebook import Rulebook
from sevtriage.rules.signals import phrase_regex
from sevtriage.rules.stage import RuleStage
from sevtriage.text import fold, new_message_text
from sevtriage.types import Ticket

Spans = dict[str, list[tuple[int, int]]]


def _best(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


class PlainScan:
    """The baseline: each signal's phrases (longest first), then its patterns, as whole-word alternations
    scanned with `finditer`; negation from the last words of the clause in the 80 characters before."""

    def __init__(self, book: Rulebook) -> None:
        self.book = book
        self.regexes: dict[str, list[re.Pattern[str]]] = {}
        for signal in book.signals.values():
            phrases = sorted(signal.phrases, key=lambda p: len(p.text), reverse=True)
            alternations = ([phrase_regex(p.text) for p in phrases], [f"(?:{p.regex})" for p in signal.patterns])
            self.regexes[signal.name] = [re.compile(rf"(?<!\w)(?:{'|'.join(b)})(?!\w)") for b in alternations if b]

    def negated(self, folded: str, start: int) -> bool:
        before = folded[max(0, start - 80) : start]
        breaks = list(re.finditer(r"[,.!?;:\n]", before))
        if breaks:
            before = before[breaks[-1].end() :]
        words = re.findall(r"\w+(?:'\w+)*", before)[-self.book.negation.window :]
        return any(word in self.book.negation.words for word in words)

    def spans(self, text: str) -> Spans:
        folded = fold(text)
        found: Spans = {}
        for signal in self.book.signals.values():
            spans: list[tuple[int, int]] = []
            for regex in self.regexes[signal.name]:
                for match in regex.finditer(folded):
                    if len(spans) >= 3:
                        break
                    if not (signal.negatable and self.negated(folded, match.start())):
                        spans.append(match.span())
            if spans:
                found[signal.name] = sorted(spans, key=lambda span: span[0])
        return found


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
    stage = stages["python"]
    texts = [new_message_text(t.subject, t.body) for t in tickets]
    scan = PlainScan(stage.book)
    sample = texts[:2000]
    indexed = [{k: [(s.start, s.end) for s in v] for k, v in stage.matcher.spans(t).items()} for t in sample]
    same_spans = indexed == [scan.spans(t) for t in sample]
    scan_us = _best(args.repeat, lambda: [scan.spans(t) for t in sample]) / len(sample) * 1e6
    index_us = _best(args.repeat, lambda: [stage.matcher.spans(t) for t in texts]) / len(texts) * 1e6
    print(f"{'':14}{'plain scan (baseline)':>24}{'word index':>14}{'scan/index':>14}")
    print(f"{'signals µs/req':14}{scan_us:>24.1f}{index_us:>14.1f}{scan_us / index_us:>14.1f}")
    print(f"identical spans from the scan and the index: {same_spans}")
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
    py_us, du_us = (1e6 / results[name]["stage"] for name in ("python", "durable"))
    print(f"{'stage µs/req':14}{py_us:>20.1f}{du_us:>14.1f}")
    print(f"identical verdicts from both engines: {same}")


if __name__ == "__main__":
    main()
