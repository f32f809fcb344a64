"""Signal matching alone: `SignalMatcher.spans` over the bench's texts, CPU µs per text.

    taskset -c 0 python benchmarks/bench_signals.py                        # this checkout's code
    PYTHONPATH=/tmp/main/src taskset -c 0 python benchmarks/bench_signals.py  # another version's (its src, rules)

The texts are those of `bench_batch.py` (the corpus, each once), prepared as `Triage.classify_many` prepares them
(`text.prepare`: the rules text and its fold); the matcher is the bundled rule file's. Caches are warmed by one
pass first and the loaded objects frozen out of the garbage collector, as in `pipeline.run`.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

from bench_batch import _texts
from sevtriage.resources import default_rules_path
from sevtriage.rules.rulebook import load_rulebook
from sevtriage.rules.signals import SignalMatcher
from sevtriage.text import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs (the median is reported)")
    parser.add_argument("--passes", type=int, default=3, help="passes over the texts per run")
    args = parser.parse_args()
    prepared = [prepare(subject, body) for subject, body in _texts()]
    texts = [(p.rules, p.rules_folded) for p in prepared]
    matcher = SignalMatcher(load_rulebook(default_rules_path()))
    for text, folded in texts:
        matcher.spans(text, folded)
    gc.freeze()
    runs = []
    for _ in range(args.runs):
        started = time.process_time()
        for _ in range(args.passes):
            for text, folded in texts:
                matcher.spans(text, folded)
        runs.append((time.process_time() - started) / (args.passes * len(texts)) * 1e6)
    print(
        f"SignalMatcher.spans: median {statistics.median(runs):.1f} µs per text (min {min(runs):.1f}, "
        f"max {max(runs):.1f}; {args.runs} runs x {args.passes} passes over {len(texts):,} texts, CPU time)"
    )


if __name__ == "__main__":
    main()
