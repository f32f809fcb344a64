"""Prediction without scikit-learn: the fitted model's numbers, and the arithmetic that uses them.

A fitted `SeverityModel` is a TF-IDF union, a linear classifier, a per-class bias and a multinomial calibrator.
At prediction time all of that is arrays: the vocabularies and idf weights (`features.TfidfSpec`), the
classifier's coefficients and intercepts, the bias, and the calibrator's coefficients and intercepts. This module
holds them and computes what scikit-learn computes (scores `X @ coef.T + intercept`, probabilities
`softmax(scores @ cal_coef.T + cal_intercept)`), so that a command that only classifies never imports
scikit-learn (about a second of start-up). `sevtriage.model.store` keeps them in an `.npz` file beside the joblib
file (plain arrays, no pickle); `tests/model/test_compiled.py` checks the answers against scikit-learn's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from sevtriage.model.features import FastUnion, TfidfSpec, Units
from sevtriage.types import LABELS, ModelOpinion, Severity

ARRAYS_FORMAT = "sevtriage-model-arrays/1"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# From this many rows on, `top_terms` makes every column's name a Python string once (`name_list`).
_NAME_LIST_ROWS = 32


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model's answers for a batch: label, calibrated probabilities (columns follow `LABELS`)."""

    labels: IntArray
    probabilities: FloatArray


@dataclass
class CompiledModel:
    """A fitted severity model as arrays; thread-safe to call (caches fill with benign races)."""

    specs: list[TfidfSpec]
    coef: FloatArray  # (classes, features)
    intercept: FloatArray
    classes: IntArray
    bias: FloatArray  # per label in `LABELS` order, added to the scores for the label
    cal_coef: FloatArray
    cal_intercept: FloatArray
    cal_classes: IntArray
    n_word_features: int
    _union: FastUnion | None = field(default=None, repr=False)
    _relative_coef: FloatArray | None = field(default=None, repr=False)
    _names: npt.NDArray[np.str_] | None = field(default=None, repr=False)
    _name_list: list[str] | None = field(default=None, repr=False)

    @classmethod
    def from_parts(cls, vectorizer: Any, classifier: Any, calibrator: Any, bias: Any, n_word: int) -> CompiledModel:
        """The arrays of fitted scikit-learn parts (a `FeatureUnion` of TF-IDF parts, linear models)."""
        return cls(
            specs=FastUnion(vectorizer).specs,
            coef=np.asarray(classifier.coef_, dtype=np.float64),
            intercept=np.asarray(classifier.intercept_, dtype=np.float64),
            classes=np.asarray(classifier.classes_, dtype=np.int64),
            bias=np.asarray(bias, dtype=np.float64),
            cal_coef=np.asarray(calibrator.coef_, dtype=np.float64),
            cal_intercept=np.asarray(calibrator.intercept_, dtype=np.float64),
            cal_classes=np.asarray(calibrator.classes_, dtype=np.int64),
            n_word_features=int(n_word),
        )

    # -- prediction -----------------------------------------------------------------------------------------------

    def transform(
        self,
        texts: Sequence[str],
        tokens: Units | None = None,
        pieces: Units | None = None,
    ) -> sparse.csr_matrix:
        """TF-IDF features of prepared texts (the same matrix as the fitted vectorizer's).

        `tokens`: each text's `text.WORD_RUNS` runs, `pieces`: each text's `str.split()`, when the caller made
        them already (best as `features.BatchWords`, numbered once for the batch).
        """
        if self._union is None:
            self._union = FastUnion(self.specs)
        return self._union.transform(texts, tokens, pieces)

    def predict(self, texts: Sequence[str]) -> Prediction:
        """Labels (bias-adjusted arg-max) and calibrated probabilities for prepared texts."""
        return self.predict_features(self.transform(texts))

    def predict_features(self, features: sparse.spmatrix) -> Prediction:
        # What LinearSVC / LogisticRegression `decision_function` computes, then the calibrator's softmax.
        scores = np.asarray(features @ self.coef.T, dtype=np.float64) + self.intercept
        labels = np.asarray(LABELS, dtype=np.int64)[np.argmax(scores + self.bias, axis=1)]
        logits = scores @ self.cal_coef.T + self.cal_intercept
        logits -= logits.max(axis=1, keepdims=True)
        raw = np.exp(logits)
        raw /= raw.sum(axis=1, keepdims=True)
        probabilities = np.zeros((raw.shape[0], len(LABELS)), dtype=np.float64)
        for column, label in enumerate(self.cal_classes.tolist()):
            probabilities[:, LABELS.index(int(label))] = raw[:, column]
        return Prediction(labels, probabilities)

    def opinions(
        self, texts: Sequence[str], top_k: int = 5, features: sparse.csr_matrix | None = None
    ) -> list[ModelOpinion]:
        """One `ModelOpinion` per prepared text, with the terms that pushed toward the answer.

        `features` are the texts' TF-IDF rows when the caller already has them (the familiarity check reads them).
        """
        if not texts:
            return []
        if features is None:
            features = self.transform(texts)
        prediction = self.predict_features(features)
        labels = [int(label) for label in prediction.labels]
        terms = self.top_terms(features, labels, top_k) if top_k > 0 else [()] * len(labels)
        return [
            ModelOpinion(Severity(label), dict(zip(LABELS, row, strict=True)), row_terms)
            for label, row, row_terms in zip(labels, prediction.probabilities.tolist(), terms, strict=True)
        ]

    @property
    def feature_names(self) -> npt.NDArray[np.str_]:
        """Every column's term: the word part's, then the character part's."""
        if self._names is None:
            self._names = np.concatenate([spec.terms for spec in self.specs]).astype(np.str_)
        return self._names

    @property
    def name_list(self) -> list[str]:
        """`feature_names` as Python strings (indexing a numpy string array makes a new object every time)."""
        if self._name_list is None:
            self._name_list = [str(name) for name in self.feature_names]
        return self._name_list

    def top_terms(self, features: sparse.csr_matrix, labels: Sequence[int], top_k: int) -> list[tuple[str, ...]]:
        """Per row, the terms that pushed it toward its label: the largest feature x relative-coefficient
        contributions, whole words first and character n-grams (shown with a leading `~`) filling in for texts
        with fewer than `top_k` known words. Ties go to the lower column, so the answer does not depend on
        the order of a row's columns. Computed for the whole batch at once.
        """
        if self._relative_coef is None:
            # Relative to the other classes: a term common to every class explains nothing.
            self._relative_coef = self.coef - self.coef.mean(axis=0)
        relative = self._relative_coef
        classes = self.classes.tolist()
        n = features.shape[0]
        rows = np.repeat(np.arange(n), np.diff(features.indptr))
        label_rows = np.asarray([classes.index(label) for label in labels], dtype=np.int64)
        is_word = features.indices < self.n_word_features

        def best(mask: npt.NDArray[np.bool_], k: int) -> list[list[int]]:
            at_rows, columns = rows[mask], features.indices[mask]
            contributions = features.data[mask] * relative[label_rows[at_rows], columns]
            positive = contributions > 0
            return _best_per_row(at_rows[positive], columns[positive], contributions[positive], k, n)

        words = best(is_word, top_k)
        # Character n-grams only fill in for rows with fewer than top_k positive words.
        short = np.zeros(n, dtype=bool)
        short[[row for row, found in enumerate(words) if len(found) < top_k]] = True
        chars = best(~is_word & short[rows], top_k) if short.any() else [[] for _ in range(n)]
        # A few rows (one `classify --text`) name their terms one by one: making every column's name a Python
        # string first costs about 20 ms, once, which only a batch earns back.
        if self._name_list is not None or n >= _NAME_LIST_ROWS:
            name: Callable[[int], str] = self.name_list.__getitem__
        else:
            feature_names = self.feature_names

            def name(column: int) -> str:
                return str(feature_names[column])

        out: list[tuple[str, ...]] = []
        for row in range(n):
            found = [name(column) for column in words[row]]
            if len(found) < top_k:
                # char_wb n-grams are never blank (they always hold a letter of a word).
                found.extend(f"~{name(column).strip()}" for column in chars[row])
            out.append(tuple(found[:top_k]))
        return out

    # -- storage ----------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the arrays as a compressed `.npz` (plain arrays: loading needs no pickle)."""
        meta = {
            "format": ARRAYS_FORMAT,
            "n_word_features": self.n_word_features,
            "parts": [
                {
                    "analyzer": spec.analyzer,
                    "ngram_range": list(spec.ngram_range),
                    "token_pattern": spec.token_pattern,
                    "sublinear_tf": spec.sublinear_tf,
                    "norm": spec.norm,
                    "dtype": spec.dtype,
                    "idf": spec.idf is not None,
                }
                for spec in self.specs
            ],
        }
        arrays: dict[str, Any] = {
            "meta": np.asarray(json.dumps(meta)),
            "coef": self.coef,
            "intercept": self.intercept,
            "classes": self.classes,
            "bias": self.bias,
            "cal_coef": self.cal_coef,
            "cal_intercept": self.cal_intercept,
            "cal_classes": self.cal_classes,
        }
        for i, spec in enumerate(self.specs):
            arrays[f"terms_{i}"] = spec.terms.astype(np.str_)
            if spec.idf is not None:
                arrays[f"idf_{i}"] = spec.idf
        with open(path, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> CompiledModel:
        """Read what `save` wrote; ValueError when it is not such a file."""
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            if meta.get("format") != ARRAYS_FORMAT:
                raise ValueError(f"format must be {ARRAYS_FORMAT!r}; got {meta.get('format')!r}")
            specs = [
                TfidfSpec(
                    analyzer=part["analyzer"],
                    ngram_range=(int(part["ngram_range"][0]), int(part["ngram_range"][1])),
                    token_pattern=part["token_pattern"],
                    sublinear_tf=bool(part["sublinear_tf"]),
                    norm=part["norm"],
                    dtype=part["dtype"],
                    terms=stored[f"terms_{i}"],
                    idf=stored[f"idf_{i}"] if part["idf"] else None,
                )
                for i, part in enumerate(meta["parts"])
            ]
            return cls(
                specs=specs,
                coef=stored["coef"],
                intercept=stored["intercept"],
                classes=stored["classes"],
                bias=stored["bias"],
                cal_coef=stored["cal_coef"],
                cal_intercept=stored["cal_intercept"],
                cal_classes=stored["cal_classes"],
                n_word_features=int(meta["n_word_features"]),
            )


def _best_per_row(rows: IntArray, columns: IntArray, values: FloatArray, k: int, count: int) -> list[list[int]]:
    """Per row (0..count-1), the columns of its k largest values, largest first (ties: lower column first)."""
    ascending = (rows[1:] > rows[:-1]) | ((rows[1:] == rows[:-1]) & (columns[1:] > columns[:-1]))
    if bool(ascending.all()):
        # Already by row, then by column (the word part's rows are sorted): a stable sort by value, then a stable
        # sort by row (numpy sorts 16-bit integers by radix) keep lexsort's order, ties by column, in about half
        # its time.
        order = np.argsort(-values, kind="stable")
        small = np.int16 if count <= np.iinfo(np.int16).max else np.int64
        order = order[np.argsort(rows[order].astype(small), kind="stable")]
    else:
        order = np.lexsort((columns, -values, rows))
    rows, columns = rows[order], columns[order]
    starts = np.searchsorted(rows, np.arange(count + 1))
    column_list = columns.tolist()
    return [column_list[starts[row] : min(starts[row] + k, starts[row + 1])] for row in range(count)]
