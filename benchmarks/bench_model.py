"""The text model's speed: inference batched and one at a time, training on 10,000 rows, `classify_many`.

Run from the repository root::

    .venv/bin/python benchmarks/bench_model.py              # 10,000 training rows, best of 3
    .venv/bin/python benchmarks/bench_model.py --rows 3000  # a quick run

Training rows are the corpus (`data/`) repeated until there are enough, each copy made unique by a
number in its subject. Baselines measured in the same run: the reference pipeline of
`../shared/eval/README.md` (word TF-IDF + LogisticRegression(balanced)) for training and inference,
and the rules alone (no model) for `classify_many`.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import Callable
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sevtriage.model.corpus import LabelledRequest, read_labelled
from sevtriage.model.evaluation import tickets_of
from sevtriage.model.text_model import ModelSettings, SeverityModel, model_text
from sevtriage.triage import Triage

DATA = Path(__file__).resolve().parent.parent / "data"


def best_of(runs: int, action: Callable[[], object]) -> float:
    """Fastest wall time of `runs` calls, with the garbage collector paused."""
    times = []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
        gc.enable()
    return min(times)


def grow(records: list[LabelledRequest], rows: int) -> list[LabelledRequest]:
    out = []
    for i in range(rows):
        r = records[i % len(records)]
        copy = i // len(records)
        out.append(LabelledRequest(f"{r.id}#{copy}", f"{r.subject} {copy}" if copy else r.subject, r.body, r.severity))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000, help="training rows (default 10,000)")
    parser.add_argument("--runs", type=int, default=3, help="repetitions; the best is reported")
    parser.add_argument("--single", type=int, default=300, help="requests classified one at a time")
    args = parser.parse_args()

    corpus = read_labelled(DATA)
    rows = grow(corpus, args.rows)
    texts = [model_text(r.subject, r.body) for r in rows]
    labels = [int(r.severity) for r in rows]
    raw = [f"{r.subject}\n{r.body}" for r in rows]
    print(f"{len(rows)} training rows from {len(corpus)} corpus requests; best of {args.runs}")
    print(f"load average at start {_load()}, {os.cpu_count()} cores, nice {os.nice(0)}\n")

    def reference_fit() -> object:
        pipeline = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            LogisticRegression(class_weight="balanced", max_iter=1000),
        )
        return pipeline.fit(raw, labels)

    reference = reference_fit()
    t_reference = best_of(args.runs, reference_fit)
    model = SeverityModel.fit(texts, labels)
    t_model = best_of(args.runs, lambda: SeverityModel.fit(texts, labels, ModelSettings()))
    print("| measure | baseline | sevtriage | ratio |")
    print("|---|---|---|---|")
    print(
        f"| training on {len(rows):,} rows (s) | {t_reference:.1f} (reference, no CV) | {t_model:.1f} "
        f"(5-fold CV + calibration + final fit) | {t_model / t_reference:.2f}x time |"
    )

    batch_texts = [model_text(r.subject, r.body) for r in corpus]
    batch_raw = [f"{r.subject}\n{r.body}" for r in corpus]
    t_ref_batch = best_of(args.runs, lambda: reference.predict_proba(batch_raw))  # type: ignore[attr-defined]
    t_batch = best_of(args.runs, lambda: model.opinions(batch_texts))
    t_batch_plain = best_of(args.runs, lambda: model.predict(batch_texts))
    n = len(batch_texts)
    print(
        f"| inference, batch of {n:,}, requests/s | {n / t_ref_batch:,.0f} | {n / t_batch:,.0f} "
        f"(with top terms; {n / t_batch_plain:,.0f} without) | {t_ref_batch / t_batch:.2f}x |"
    )
    single = batch_texts[: args.single]
    single_raw = batch_raw[: args.single]
    t_ref_single = best_of(
        args.runs,
        lambda: [reference.predict_proba([t]) for t in single_raw],  # type: ignore[attr-defined]
    )
    t_single = best_of(args.runs, lambda: [model.opinions([t]) for t in single])
    print(
        f"| inference, one at a time, requests/s | {len(single) / t_ref_single:,.0f} | "
        f"{len(single) / t_single:,.0f} | {t_ref_single / t_single:.2f}x |"
    )

    tickets = tickets_of(corpus)
    full = Triage.load()
    unsure_only = Triage(full.rule_stage, full.model, full.sla, second_opinion=False)
    rules_only = Triage(full.rule_stage, None, full.sla)
    batches = [tickets[i : i + 1000] for i in range(0, len(tickets), 1000)]
    t_rules = best_of(args.runs, lambda: [rules_only.classify_many(b) for b in batches])
    t_unsure = best_of(args.runs, lambda: [unsure_only.classify_many(b) for b in batches])
    t_full = best_of(args.runs, lambda: [full.classify_many(b) for b in batches])
    unsure = sum(1 for v in full.rule_stage.evaluate_many(tickets) if not v.confident)
    n_t = len(tickets)
    print(
        f"| `classify_many` (batches of 1,000), model where rules are unsure ({100 * unsure / n_t:.0f}%), "
        f"requests/s | {n_t / t_rules:,.0f} (rules only) | {n_t / t_unsure:,.0f} | {t_rules / t_unsure:.2f}x |"
    )
    print(
        f"| `classify_many` (batches of 1,000), model on every request (default), requests/s | "
        f"{n_t / t_rules:,.0f} (rules only) | {n_t / t_full:,.0f} | {t_rules / t_full:.2f}x |"
    )
    print(f"\nrules engine: {full.rule_stage.engine_name}; model {full.model_version}; load average at end {_load()}")


def _load() -> str:
    """The 1, 5 and 15-minute load averages: the box is shared, so they say how far to trust the times."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
