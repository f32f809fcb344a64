"""Candidate text models compared on the shared evaluation sets, before any of them ships.

    .venv/bin/python benchmarks/model_variants.py ../shared/eval/eclipse_bugzilla.csv ../shared/eval/hadoop_jira.csv

Every variant gets the same protocol on the same stratified 80/20 split (`random_state=0`, as
`external_eval.py`): the same word 1-2 + `char_wb` 2-5 TF-IDF features fitted on the training part, 5-fold
out-of-fold scores on the training part to tune the per-class bias (macro-F1), one final fit, then macro-F1 of
the bias-adjusted arg-max on the test part. Only the scorer differs. With `--grouped` the folds are those of
the shipped training (`validation_groups`: contiguous blocks of rows for one exported file, stratified group
k-fold); without it, stratified rows (the protocol before issue 9). The shipped model also re-normalises each
fold's features over the fold's own vocabulary, which this comparison leaves out for every variant alike.
The first row is the shipped scorer (`LinearSVC`, balanced, C=0.1), measured in the same run; fit time is the
whole protocol (CV + final fit).

Variants:
- `svc C=...`: the shipped scorer with another regularisation strength;
- `nbsvm`: NB-SVM (Wang and Manning 2012, "Baselines and Bigrams", ACL): per class, the features are scaled by
  the log-count ratio of that class against the rest and a binary balanced `LinearSVC` scores it;
- `svc+nbsvm`, `svc+cnb`, `svc+lr`: the mean of the standardised scores of two scorers (an ensemble of linear
  models); `cnb` is `ComplementNB`, `lr` a balanced `LogisticRegression`;
- `word|char`: one `LinearSVC` per view (words, characters), scores averaged (`C=0.2`: both views at 0.2);
- `ridge`, `svc+ridge`: a balanced `RidgeClassifier` (least squares on +-1 targets), alone and with the SVC.
Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

from sevtriage.model.corpus import read_labelled, validation_groups
from sevtriage.model.text_model import ModelSettings, _make_vectorizer, _tune_bias, macro_f1
from sevtriage.text import model_text
from sevtriage.types import LABELS

FloatArray = npt.NDArray[np.float64]
Scorer = Callable[[sparse.csr_matrix, npt.NDArray[np.int64], sparse.csr_matrix], FloatArray]


def svc(c: float) -> Scorer:
    def score(x: sparse.csr_matrix, y: npt.NDArray[np.int64], test: sparse.csr_matrix) -> FloatArray:
        model = LinearSVC(C=c, class_weight="balanced", max_iter=3000, random_state=0).fit(x, y)
        return np.asarray(model.decision_function(test), dtype=np.float64)

    return score


def logistic(x: sparse.csr_matrix, y: npt.NDArray[np.int64], test: sparse.csr_matrix) -> FloatArray:
    model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=300).fit(x, y)
    return np.asarray(model.decision_function(test), dtype=np.float64)


def ridge(x: sparse.csr_matrix, y: npt.NDArray[np.int64], test: sparse.csr_matrix) -> FloatArray:
    model = RidgeClassifier(alpha=1.0, class_weight="balanced", solver="sparse_cg").fit(x, y)
    return np.asarray(model.decision_function(test), dtype=np.float64)


def complement_nb(x: sparse.csr_matrix, y: npt.NDArray[np.int64], test: sparse.csr_matrix) -> FloatArray:
    model = ComplementNB(alpha=0.3).fit(x, y)
    return np.asarray(model.predict_log_proba(test), dtype=np.float64)


def nbsvm(c: float = 0.1, alpha: float = 1.0) -> Scorer:
    def score(x: sparse.csr_matrix, y: npt.NDArray[np.int64], test: sparse.csr_matrix) -> FloatArray:
        binary_x = x.copy()
        binary_x.data[:] = 1.0
        out = np.zeros((test.shape[0], len(LABELS)), dtype=np.float64)
        for column, label in enumerate(LABELS):
            mine = y == label
            p = alpha + np.asarray(binary_x[mine].sum(axis=0)).ravel()
            q = alpha + np.asarray(binary_x[~mine].sum(axis=0)).ravel()
            ratio = np.log((p / p.sum()) / (q / q.sum()))
            scale = sparse.diags(ratio)
            model = LinearSVC(C=c, class_weight="balanced", max_iter=3000, random_state=0)
            model.fit(x @ scale, mine.astype(np.int64))
            out[:, column] = model.decision_function(test @ scale)
        return out

    return score


def standardised(scorer: Scorer) -> Scorer:
    def score(x: sparse.csr_matrix, y: npt.NDArray[np.int64], test: sparse.csr_matrix) -> FloatArray:
        # Scale by the training rows' own scores, so that two scorers weigh alike in a mean.
        both = scorer(x, y, sparse.vstack([x, test]).tocsr())
        train_part = both[: x.shape[0]]
        return (both[x.shape[0] :] - train_part.mean(axis=0)) / (train_part.std(axis=0) + 1e-9)

    return score


def mean_of(*scorers: Scorer) -> Scorer:
    parts = [standardised(s) for s in scorers]

    def score(x: sparse.csr_matrix, y: npt.NDArray[np.int64], test: sparse.csr_matrix) -> FloatArray:
        return np.mean([p(x, y, test) for p in parts], axis=0)

    return score


def per_view(split: int, c: float = 0.1) -> Scorer:
    words, chars = standardised(svc(c)), standardised(svc(c))

    def score(x: sparse.csr_matrix, y: npt.NDArray[np.int64], test: sparse.csr_matrix) -> FloatArray:
        return (words(x[:, :split], y, test[:, :split]) + chars(x[:, split:], y, test[:, split:])) / 2

    return score


def protocol(
    scorer: Scorer,
    x: sparse.csr_matrix,
    y: npt.NDArray[np.int64],
    test: sparse.csr_matrix,
    groups: list[str] | None,
) -> FloatArray:
    """The shipped model's recipe around any scorer: OOF scores, bias for macro-F1, final fit."""
    oof = np.zeros((x.shape[0], len(LABELS)), dtype=np.float64)
    if groups is not None:
        splits = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0).split(x, y, np.asarray(groups))
    else:
        splits = StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(x, y)
    for train_index, test_index in splits:
        oof[test_index] = scorer(x[train_index], y[train_index], x[test_index])
    bias = _tune_bias(oof, y)
    return np.asarray(LABELS)[np.argmax(scorer(x, y, test) + bias, axis=1)]


def run(path: Path, only: set[str] | None, grouped: bool) -> None:
    records = read_labelled(path)
    labels = [int(r.severity) for r in records]
    train_rows, test_rows = train_test_split(records, test_size=0.2, stratify=labels, random_state=0)
    vectorizer = _make_vectorizer(ModelSettings())
    x = vectorizer.fit_transform([model_text(r.subject, r.body) for r in train_rows]).tocsr()
    test = vectorizer.transform([model_text(r.subject, r.body) for r in test_rows]).tocsr()
    y = np.asarray([int(r.severity) for r in train_rows], dtype=np.int64)
    truth = np.asarray([int(r.severity) for r in test_rows], dtype=np.int64)
    split = len(vectorizer.transformer_list[0][1].vocabulary_)
    groups = list(validation_groups(train_rows, 5).groups) if grouped else None
    variants: dict[str, Scorer] = {
        "svc C=0.1 (shipped)": svc(0.1),
        "svc C=0.05": svc(0.05),
        "svc C=0.2": svc(0.2),
        "nbsvm": nbsvm(),
        "svc+nbsvm": mean_of(svc(0.1), nbsvm()),
        "svc+cnb": mean_of(svc(0.1), complement_nb),
        "svc+lr": mean_of(svc(0.1), logistic),
        "word|char": per_view(split),
        "word|char C=0.2": per_view(split, 0.2),
        "svc C=0.15": svc(0.15),
        "ridge": ridge,
        "svc+ridge": mean_of(svc(0.1), ridge),
    }
    folds = "grouped folds" if grouped else "stratified folds"
    print(f"## {path.name}: {len(train_rows)} train / {len(test_rows)} test rows, {folds}")
    print("| variant | macro-F1 | fit (s) |")
    print("|---|---|---|")
    for name, scorer in variants.items():
        if only and name not in only and name.split()[0] not in only:
            continue
        started = time.perf_counter()
        predicted = protocol(scorer, x, y, test, groups)
        seconds = time.perf_counter() - started
        print(f"| {name} | {macro_f1(truth, predicted):.3f} | {seconds:.1f} |", flush=True)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="+", type=Path, help="labelled CSV files (id, subject, body, severity)")
    parser.add_argument("--only", nargs="*", help="variant names to run (first word), default all")
    parser.add_argument("--grouped", action="store_true", help="folds grouped as the shipped training groups them")
    args = parser.parse_args()
    for path in args.csv:
        run(path, set(args.only) if args.only else None, args.grouped)


if __name__ == "__main__":
    main()
