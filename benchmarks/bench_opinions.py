"""The model's opinions (features, prediction, familiarity) per text, by batch size.

    PYTHONPATH=src taskset -c 0 .venv/bin/python benchmarks/bench_opinions.py             # sizes 1, 10, 50, 1000
    PYTHONPATH=/tmp/old/src taskset -c 0 .venv/bin/python benchmarks/bench_opinions.py    # another version, in turns

Small batches are the service's (its batcher groups the requests that arrive together) and one `classify --text`;
large ones the file intake's. CPU time per text, best of `--runs`, caches warm and the collector frozen as in
`pipeline.run`; the ratio is against the largest batch size of the same run.
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

from bench_batch import _texts
from sevtriage.text import prepare
from sevtriage.triage import Triage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000, help="corpus texts classified per pass (default 2,000)")
    parser.add_argument("--sizes", default="1,10,50,1000", help="batch sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="passes per size; the best is reported")
    args = parser.parse_args()
    triage = Triage.load()
    model = triage.model
    if model is None:
        raise SystemExit("no model: the bundled model file is missing")
    texts = [prepare(subject, body).model for subject, body in _texts()[: args.texts]]
    model.opinions(texts)  # warm the per-word caches and the vocabulary tables
    gc.freeze()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"sevtriage opinions: {len(texts):,} texts, model {model.version}, from {Path(__file__).name}")
    results: dict[int, float] = {}
    for size in sizes:
        best = float("inf")
        for _ in range(args.runs):
            started = time.process_time()
            for start in range(0, len(texts), size):
                model.opinions(texts[start : start + size])
            best = min(best, time.process_time() - started)
        results[size] = best * 1e6 / len(texts)
    largest = results[max(sizes)]
    for size in sizes:
        ratio = results[size] / largest
        print(f"  batch of {size:>5}: {results[size]:8.1f} us per text   x{ratio:5.2f} of the largest")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
