"""Train and evaluate on someone else's real history: a stratified 80/20 split of a labelled CSV.

    .venv/bin/python benchmarks/external_eval.py ../shared/eval/eclipse_bugzilla.csv ../shared/eval/hadoop_jira.csv

For each file: the README's reference (TF-IDF word 1-2 grams, sublinear tf, LogisticRegression with
balanced classes) is measured in the same run on the same split, then sevtriage's model (word + char
n-grams, balanced LR, per-class bias tuned on train cross-validation, calibrated probabilities) and,
with the bundled rules, the combined system. Nothing is written to disk: these files and models
trained on them stay out of the repository.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from sevtriage.model.corpus import LabelledRequest, read_labelled
from sevtriage.model.evaluation import evaluate, model_only_metrics
from sevtriage.model.text_model import macro_f1, train


def reference_macro_f1(train_rows: list[LabelledRequest], test_rows: list[LabelledRequest]) -> float:
    """The reference of ../shared/eval/README.md, on the same split."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    features = vectorizer.fit_transform([f"{r.subject}\n{r.body}" for r in train_rows])
    classifier = LogisticRegression(class_weight="balanced", max_iter=1000)
    classifier.fit(features, [int(r.severity) for r in train_rows])
    predicted = classifier.predict(vectorizer.transform([f"{r.subject}\n{r.body}" for r in test_rows]))
    return macro_f1(np.asarray([int(r.severity) for r in test_rows]), np.asarray(predicted))


def run(path: Path, with_rules: bool) -> None:
    records = read_labelled(path)
    labels = [int(r.severity) for r in records]
    train_rows, test_rows = train_test_split(records, test_size=0.2, stratify=labels, random_state=0)
    reference = reference_macro_f1(train_rows, test_rows)
    from sevtriage.cli.model_cmd import measure_rule_precision
    from sevtriage.rules.stage import RuleStage

    stage = RuleStage.load()
    started = time.perf_counter()
    # As `sevtriage train FILE` does: the rules' precision is measured on the training rows.
    trained = train(train_rows, sources=[str(path)], rule_precision=measure_rule_precision(stage, train_rows))
    seconds = time.perf_counter() - started
    model = model_only_metrics(trained, test_rows)
    print(f"## {path.name}: {len(train_rows)} train / {len(test_rows)} test rows")
    print(f"reference TF-IDF + LR (same run)  macro-F1 {reference:.3f}")
    print(
        f"sevtriage model                    macro-F1 {model.macro_f1:.3f}  ({model.macro_f1 / reference:.2f}x the "
        f"reference)  accuracy {model.accuracy:.3f}  sev-1 recall {model.critical_recall:.3f}  ECE {model.ece:.3f}"
    )
    print(
        f"  auto-label coverage {model.auto_coverage:.3f} at precision "
        f"{model.auto_precision if model.auto_precision is not None else float('nan'):.3f} "
        f"(target {trained.card.targets.auto_precision}); trained in {seconds:.1f} s"
    )
    print(f"  validation: {trained.card.validation['description']}")
    for severity, ev in sorted(trained.card.validation["evidence"].items()):
        print(
            f"  severity {severity}: threshold {ev['threshold']}, out-of-fold evidence {ev['correct']}/"
            f"{ev['decisions']}, lower bound {ev['lower_bound']:.3f}"
        )
    curve = {round(p.threshold, 3): p for p in model.coverage_curve}
    at_90 = max((p.coverage for p in curve.values() if p.precision >= 0.9), default=0.0)
    print(f"  best coverage at >= 90% precision with one global threshold: {at_90:.3f}")
    if with_rules:
        from sevtriage.sla import SlaPolicy
        from sevtriage.triage import Triage

        result = evaluate(Triage(stage, trained, SlaPolicy.load()), test_rows)
        for system in result.systems:
            s = system.summary()
            print(
                f"  {system.name:<11} macro-F1 {s['macro_f1']:.3f}  decided {system.decided}/{system.n}  "
                f"auto-label {s['auto_coverage']:.3f} at precision {s['auto_precision']}  sev-1 caught "
                f"{s['critical_caught']}  silent under-triage {s['silent_under_triage']}  accuracy {s['accuracy']}"
            )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="+", type=Path, help="labelled CSV files (id, subject, body, severity)")
    parser.add_argument("--no-rules", action="store_true", help="skip the rules-only and combined lines")
    args = parser.parse_args()
    for path in args.csv:
        run(path, with_rules=not args.no_rules)


if __name__ == "__main__":
    main()
