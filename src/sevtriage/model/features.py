"""A faster `transform` for fitted TF-IDF vectorizers, with the same output as scikit-learn's.

scikit-learn builds every character n-gram of every word in Python for each document (about two thirds of a
request's model time). Words repeat across requests (Zipf), so the n-gram columns of each distinct word are
computed once and remembered; a document's counts are then the sum over its words. Word n-grams are looked up
directly in the vocabulary. The TF-IDF weighting (sublinear tf, idf, l2 norm) is applied as scikit-learn does.
`tests/test_fast_features.py` checks the result against scikit-learn's own `transform` on the corpus.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's own normalisation before char_wb n-grams
_EMPTY = np.zeros(0, dtype=np.int64)
# Distinct words remembered per vectorizer; cleared when full, so memory stays bounded on any stream.
CACHE_LIMIT = 200_000


def supports(vectorizer: object) -> bool:
    """Whether `FastTfidf` reproduces this fitted vectorizer (plain settings only)."""
    if not isinstance(vectorizer, TfidfVectorizer):
        return False
    plain = (
        vectorizer.preprocessor is None
        and vectorizer.tokenizer is None
        and vectorizer.strip_accents is None
        and vectorizer.stop_words is None
        and vectorizer.lowercase
        and vectorizer.norm in ("l2", None)
        and hasattr(vectorizer, "vocabulary_")
    )
    return bool(plain and vectorizer.analyzer in ("word", "char_wb"))


class FastTfidf:
    """Transform texts with a fitted `TfidfVectorizer` (analyzer `word` or `char_wb`)."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        if not supports(vectorizer):
            raise ValueError("vectorizer must be a fitted TfidfVectorizer with analyzer 'word' or 'char_wb'")
        self.vectorizer = vectorizer
        self.vocabulary: dict[str, int] = dict(vectorizer.vocabulary_)
        self.n_features = len(self.vocabulary)
        self.min_n, self.max_n = vectorizer.ngram_range
        self.token_pattern = re.compile(vectorizer.token_pattern)
        self.idf: npt.NDArray[np.float64] | None = (
            np.asarray(vectorizer.idf_, dtype=np.float64) if vectorizer.use_idf else None
        )
        self._word_columns: dict[str, npt.NDArray[np.int64]] = {}
        self._lock = threading.Lock()

    def _char_wb_columns(self, word: str) -> npt.NDArray[np.int64]:
        """Vocabulary columns of a word's padded character n-grams, with repeats, as scikit-learn counts them."""
        known = self._word_columns.get(word)
        if known is not None:
            return known
        padded = f" {word} "
        length = len(padded)
        vocabulary = self.vocabulary
        columns: list[int] = []
        for n in range(self.min_n, self.max_n + 1):
            for offset in range(max(length - n, 0) + 1):
                column = vocabulary.get(padded[offset : offset + n])
                if column is not None:
                    columns.append(column)
            if length <= n:
                # scikit-learn counts a padded word no longer than n once, as the whole word, and stops there.
                break
        found = np.asarray(columns, dtype=np.int64) if columns else _EMPTY
        with self._lock:
            if len(self._word_columns) >= CACHE_LIMIT:
                self._word_columns.clear()
            self._word_columns[word] = found
        return found

    def _doc_columns(self, text: str) -> npt.NDArray[np.int64]:
        text = text.lower()
        if self.vectorizer.analyzer == "char_wb":
            parts = [self._char_wb_columns(w) for w in _WHITE_SPACES.sub(" ", text).split()]
            return np.concatenate(parts) if parts else _EMPTY
        tokens = self.token_pattern.findall(text)
        vocabulary = self.vocabulary
        columns: list[int] = []
        for n in range(self.min_n, self.max_n + 1):
            for start in range(len(tokens) - n + 1):
                column = vocabulary.get(tokens[start] if n == 1 else " ".join(tokens[start : start + n]))
                if column is not None:
                    columns.append(column)
        return np.asarray(columns, dtype=np.int64) if columns else _EMPTY

    def row(self, text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Columns and TF-IDF weights of one text, weighted and normalised as scikit-learn does."""
        columns, tally = np.unique(self._doc_columns(text), return_counts=True)
        weights = tally.astype(np.float64)
        if self.vectorizer.sublinear_tf:
            np.log(weights, out=weights)
            weights += 1.0
        if self.idf is not None:
            weights *= self.idf[columns]
        if self.vectorizer.norm == "l2" and len(weights):
            weights /= np.sqrt(np.dot(weights, weights))
        return columns, weights

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """The TF-IDF matrix of `texts`, equal to `vectorizer.transform(texts)` up to float rounding."""
        return _stack([[self.row(t)] for t in texts], [0], self.n_features, self.vectorizer.dtype)


def _stack(
    rows: list[list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]],
    offsets: list[int],
    width: int,
    dtype: npt.DTypeLike,
) -> sparse.csr_matrix:
    """One CSR matrix from per-text, per-part (columns, weights), each part's columns shifted by its offset."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    all_columns: list[npt.NDArray[np.int64]] = []
    all_weights: list[npt.NDArray[np.float64]] = []
    for i, parts in enumerate(rows):
        size = 0
        for (columns, weights), offset in zip(parts, offsets, strict=True):
            all_columns.append(columns + offset if offset else columns)
            all_weights.append(weights)
            size += len(columns)
        indptr[i + 1] = indptr[i] + size
    columns = np.concatenate(all_columns) if all_columns else _EMPTY
    weights = np.concatenate(all_weights).astype(dtype) if all_weights else np.zeros(0, dtype=dtype)
    return sparse.csr_matrix((weights, columns, indptr), shape=(len(rows), width))


class FastUnion:
    """`FeatureUnion.transform` of TF-IDF parts through `FastTfidf`; falls back to scikit-learn otherwise."""

    def __init__(self, union: FeatureUnion) -> None:
        self.union = union
        parts = [part for _, part in union.transformer_list]
        self.fast: list[FastTfidf] | None = (
            [FastTfidf(p) for p in parts] if all(supports(p) for p in parts) and not union.transformer_weights else None
        )
        # Where each part's columns start in the joined matrix (the parts' widths, added up).
        widths = [part.n_features for part in self.fast or []]
        self.offsets = [sum(widths[:i]) for i in range(len(widths))]
        self.width = sum(widths)

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """`union.transform(texts)` as a CSR matrix."""
        if self.fast is None:
            return sparse.csr_matrix(self.union.transform(list(texts)))
        rows = [[part.row(text) for part in self.fast] for text in texts]
        return _stack(rows, self.offsets, self.width, self.fast[0].vectorizer.dtype)
