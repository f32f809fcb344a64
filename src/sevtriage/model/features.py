"""A faster `transform` for fitted TF-IDF vectorizers, with the same output as scikit-learn's.

scikit-learn builds every character n-gram of every word in Python for each document (about two thirds of a
request's model time). Words repeat across requests (Zipf), so the n-gram columns of each distinct word are
computed once and remembered; a document's counts are then the sum over its words. Word n-grams are looked up
directly in the vocabulary. The TF-IDF weighting (sublinear tf, idf, l2 norm) is applied as scikit-learn does.
`tests/test_fast_features.py` checks the result against scikit-learn's own `transform` on the corpus.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from sevtriage.model.word_cache import WordCache

if TYPE_CHECKING:
    from sklearn.pipeline import FeatureUnion

_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's own normalisation before char_wb n-grams
_EMPTY = np.zeros(0, dtype=np.int64)
# The model's word token pattern (letters only, two or more; `text_model._make_vectorizer`), and the same for one
# `\w+` run as a whole: a text's tokens under the pattern are its runs that match this.
LETTER_WORDS = r"(?u)\b[^\W\d_]{2,}\b"
_LETTER_RUN = re.compile(r"[^\W\d_]{2,}")
_NOT_A_WORD = -2
# Distinct words remembered per vectorizer; cleared when full, so memory stays bounded on any stream.
CACHE_LIMIT = 200_000
# From this many texts on, word n-grams go through the vocabulary tables (`FastTfidf._word_tables`).
_TABLE_TEXTS = 32


def supports(vectorizer: object) -> bool:
    """Whether `FastTfidf` reproduces this fitted vectorizer (plain settings only)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

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


@dataclass(frozen=True)
class TfidfSpec:
    """What a fitted TF-IDF vectorizer computes, as plain values: all that prediction needs of it."""

    analyzer: str  # "word" or "char_wb"
    ngram_range: tuple[int, int]
    token_pattern: str
    sublinear_tf: bool
    norm: str | None
    dtype: str
    terms: npt.NDArray[np.str_]  # the vocabulary, in column order
    idf: npt.NDArray[np.float64] | None

    @classmethod
    def of(cls, vectorizer: Any) -> TfidfSpec:
        """The spec of a fitted scikit-learn `TfidfVectorizer` that `supports` accepts."""
        if not supports(vectorizer):
            raise ValueError("vectorizer must be a fitted TfidfVectorizer with analyzer 'word' or 'char_wb'")
        terms = np.empty(len(vectorizer.vocabulary_), dtype=object)
        for term, column in vectorizer.vocabulary_.items():
            terms[column] = term
        return cls(
            analyzer=str(vectorizer.analyzer),
            ngram_range=(int(vectorizer.ngram_range[0]), int(vectorizer.ngram_range[1])),
            token_pattern=str(vectorizer.token_pattern),
            sublinear_tf=bool(vectorizer.sublinear_tf),
            norm=vectorizer.norm,
            dtype=np.dtype(vectorizer.dtype).name,
            terms=terms.astype(np.str_),
            idf=np.asarray(vectorizer.idf_, dtype=np.float64) if vectorizer.use_idf else None,
        )


class FastTfidf:
    """Transform texts as a fitted `TfidfVectorizer` (analyzer `word` or `char_wb`) does, from its `TfidfSpec`."""

    def __init__(self, vectorizer: Any) -> None:
        spec = vectorizer if isinstance(vectorizer, TfidfSpec) else TfidfSpec.of(vectorizer)
        self.spec = spec
        self.vocabulary: dict[str, int] = dict(zip(spec.terms.tolist(), range(len(spec.terms)), strict=True))
        self.n_features = len(self.vocabulary)
        self.min_n, self.max_n = spec.ngram_range
        self.token_pattern = re.compile(spec.token_pattern)
        self.idf = spec.idf
        self.dtype = np.dtype(spec.dtype)
        self._tables: (
            tuple[dict[str, int], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]] | None
        ) = None
        self._run_kinds: WordCache[int] = WordCache(CACHE_LIMIT)
        self._word_counts_cache: WordCache[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = WordCache(
            CACHE_LIMIT
        )

    def _char_wb_columns(self, word: str) -> npt.NDArray[np.int64]:
        """Vocabulary columns of a word's padded character n-grams, with repeats, as scikit-learn counts them."""
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
        return np.asarray(columns, dtype=np.int64) if columns else _EMPTY

    def _word_counts(self, word: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Distinct n-gram columns of one word and how often each occurs in it (remembered per word)."""
        known = self._word_counts_cache.get(word)
        if known is not None:
            return known
        columns, tally = np.unique(self._char_wb_columns(word), return_counts=True)
        found = (columns, tally.astype(np.float64))
        self._word_counts_cache.put(word, found)
        return found

    def counts(
        self,
        texts: Sequence[str],
        tokens: Sequence[Sequence[str]] | None = None,
        pieces: Sequence[Sequence[str]] | None = None,
    ) -> sparse.csr_matrix:
        """Raw n-gram counts of `texts` (what scikit-learn's `CountVectorizer` part computes), as float64 CSR.

        `tokens` are each text's `text.WORD_RUNS` runs when the caller has them: word n-grams of the letters-only
        pattern then come from them (see `_letter_words`) instead of a second reading of the text. `pieces` are
        each text's `str.split()`: the words of character n-grams, for text that `lower()` leaves as it is
        (scikit-learn's squeezing of white space runs before splitting changes no piece: `re`'s `\\s` and
        `str.split` know the same white space).
        """
        if self.spec.analyzer == "char_wb":
            return self._char_wb_counts(texts, pieces)
        return self._word_counts_matrix(texts, tokens)

    def _char_wb_counts(self, texts: Sequence[str], pieces: Sequence[Sequence[str]] | None = None) -> sparse.csr_matrix:
        # char_wb n-grams never cross a word, so a document's counts are (documents x words) @ (words x n-grams):
        # one sparse product in scipy's C++ instead of a Python sum per document.
        index: dict[str, int] = {}
        ids: list[int] = []
        indptr = [0]
        for at, text in enumerate(texts):
            lowered = text.lower()
            words = pieces[at] if pieces is not None and lowered == text else _WHITE_SPACES.sub(" ", lowered).split()
            ids.extend([index.setdefault(word, len(index)) for word in words])
            indptr.append(len(ids))
        per_document = sparse.csr_matrix(
            (np.ones(len(ids)), np.asarray(ids, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
            shape=(len(texts), len(index)),
        )
        cache = self._word_counts_cache.words  # words with a digit are looked up in `_word_counts`
        parts = [cache.get(word) or self._word_counts(word) for word in index]
        lengths = np.fromiter((len(columns) for columns, _ in parts), dtype=np.int64, count=len(parts))
        word_indptr = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=word_indptr[1:])
        per_word = sparse.csr_matrix(
            (
                np.concatenate([tally for _, tally in parts]) if parts else np.zeros(0),
                np.concatenate([columns for columns, _ in parts]) if parts else _EMPTY,
                word_indptr,
            ),
            shape=(len(parts), self.n_features),
        )
        # Each row's columns are distinct but not sorted (scipy's product does not sort them; nothing here needs it).
        return sparse.csr_matrix(per_document @ per_word)

    def _word_counts_matrix(
        self, texts: Sequence[str], tokens: Sequence[Sequence[str]] | None = None
    ) -> sparse.csr_matrix:
        # The numpy pairs need tables of the whole vocabulary (about 20 ms to make, once); a few texts before
        # they exist (one `classify --text`) are looked up text by text, which gives the same matrix.
        if self.max_n <= 2 and (self._tables is not None or len(texts) >= _TABLE_TEXTS):
            return self._word_pairs_matrix(texts, tokens)
        return self._word_ngrams_text_by_text(texts)

    def _word_ngrams_text_by_text(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Word n-gram counts with each n-gram joined and looked up in Python (any n; the reference of the pairs)."""
        vocabulary = self.vocabulary
        columns: list[int] = []
        indptr = [0]
        lookup = vocabulary.get
        for text in texts:
            tokens = self.token_pattern.findall(text.lower())
            for n in range(self.min_n, self.max_n + 1):
                if n == 1:
                    grams: Iterable[str] = tokens
                elif n == 2:
                    grams = map(" ".join, pairwise(tokens))
                else:
                    grams = (" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
                columns.extend([column for column in map(lookup, grams) if column is not None])
            indptr.append(len(columns))
        result = sparse.csr_matrix(
            (np.ones(len(columns)), np.asarray(columns, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
            shape=(len(texts), self.n_features),
        )
        result.sum_duplicates()  # adds up repeats and sorts each row's columns
        return result

    def _word_pairs_matrix(
        self, texts: Sequence[str], tokens: Sequence[Sequence[str]] | None = None
    ) -> sparse.csr_matrix:
        """`_word_counts_matrix` for word 1- and 2-grams, with the n-grams looked up by numpy for the whole batch.

        Each token becomes the number of its word among the vocabulary's words (-1 for a word no term uses), one
        dict lookup per token; a bigram is then the pair of neighbouring numbers inside one text, found in the
        sorted pair codes of the vocabulary's bigrams. The counts are the same, and the rows are sorted and summed
        as `sum_duplicates` leaves them, so the matrix is the same.
        """
        words, unigram_columns, pair_codes, pair_columns = self._word_tables()
        lookup = words.get
        numbers: list[int] = []
        lengths: list[int] = []
        shared = tokens is not None and self.spec.token_pattern == LETTER_WORDS
        for at, text in enumerate(texts):
            lowered = text.lower()
            if shared and lowered == text:
                assert tokens is not None
                found = self._letter_words(tokens[at])
                numbers.extend(found)
                lengths.append(len(found))
                continue
            read = self.token_pattern.findall(lowered)
            numbers.extend([lookup(token, -1) for token in read])
            lengths.append(len(read))
        ids = np.asarray(numbers, dtype=np.int64)
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        found_rows: list[npt.NDArray[np.int64]] = []
        found_columns: list[npt.NDArray[np.int64]] = []
        if self.min_n <= 1:
            known = ids >= 0
            columns = unigram_columns[ids[known]]
            kept = columns >= 0
            found_rows.append(rows[known][kept])
            found_columns.append(columns[kept])
        if self.max_n >= 2 and len(ids) > 1 and len(pair_codes):
            both = (ids[:-1] >= 0) & (ids[1:] >= 0) & (rows[:-1] == rows[1:])
            codes = ids[:-1][both] * len(words) + ids[1:][both]
            at = np.minimum(np.searchsorted(pair_codes, codes), len(pair_codes) - 1)
            hit = pair_codes[at] == codes
            found_rows.append(rows[:-1][both][hit])
            found_columns.append(pair_columns[at[hit]])
        keys = np.concatenate(
            [*(r * self.n_features + c for r, c in zip(found_rows, found_columns, strict=True)), _EMPTY]
        )
        unique, tally = np.unique(keys, return_counts=True)
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(unique // self.n_features, minlength=len(texts)), out=indptr[1:])
        return sparse.csr_matrix(
            (tally.astype(np.float64), unique % self.n_features, indptr), shape=(len(texts), self.n_features)
        )

    def _letter_words(self, runs: Sequence[str]) -> list[int]:
        """The word numbers (-1: a word no term uses) of the `LETTER_WORDS` tokens among a text's `\\w+` runs.

        The pattern's word boundaries fall exactly at a run's ends, so its tokens are the runs of two or more
        letters, in order; runs with a digit or an underscore are left out, as the pattern leaves them out (they
        do not join a bigram either). Valid for text that `lower()` leaves as it is (the caller checks).
        What each run gives is remembered.
        """
        words = self._word_tables()[0]
        kinds = self._run_kinds.words
        out: list[int] = []
        for run in runs:
            number = words.get(run)
            if number is None:
                number = kinds.get(run)
                if number is None:
                    number = self._run_kind(run)
                if number == _NOT_A_WORD:
                    continue
            out.append(number)
        return out

    def _run_kind(self, run: str) -> int:
        """-1 for a letters-only run that no term uses, `_NOT_A_WORD` for a run the pattern does not take."""
        kind = self._run_kinds.get(run)
        if kind is None:
            kind = -1 if _LETTER_RUN.fullmatch(run) is not None else _NOT_A_WORD
            self._run_kinds.put(run, kind)
        return kind

    def _word_tables(
        self,
    ) -> tuple[dict[str, int], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The vocabulary's words numbered, each word's unigram column (-1: none), the bigrams' sorted pair codes
        (first * words + second) and their columns; made on first use."""
        if self._tables is None:
            words: dict[str, int] = {}
            split = [(term.split(" "), column) for term, column in self.vocabulary.items()]
            for parts, _ in split:
                for part in parts:
                    words.setdefault(part, len(words))
            unigrams = np.full(len(words), -1, dtype=np.int64)
            codes: list[int] = []
            columns: list[int] = []
            for parts, column in split:
                if len(parts) == 1:
                    unigrams[words[parts[0]]] = column
                elif len(parts) == 2:
                    codes.append(words[parts[0]] * len(words) + words[parts[1]])
                    columns.append(column)
            order = np.argsort(np.asarray(codes, dtype=np.int64), kind="stable")
            self._tables = (
                words,
                unigrams,
                np.asarray(codes, dtype=np.int64)[order],
                np.asarray(columns, dtype=np.int64)[order],
            )
        return self._tables

    def weigh(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        """TF-IDF weights from raw counts, in place: sublinear tf, idf and l2 norm as scikit-learn applies them."""
        if self.spec.sublinear_tf:
            np.log(counts.data, out=counts.data)
            counts.data += 1.0
        if self.idf is not None:
            counts.data *= self.idf[counts.indices]
        if self.spec.norm == "l2":
            # Each row divided by its Euclidean length; an empty row stays empty (as scikit-learn's `normalize`).
            rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
            lengths = np.sqrt(np.bincount(rows, weights=counts.data * counts.data, minlength=counts.shape[0]))
            lengths[lengths == 0.0] = 1.0
            counts.data /= lengths[rows]
        return counts

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """The TF-IDF matrix of `texts`, equal to `vectorizer.transform(texts)` up to float rounding."""
        return _as_dtype(self.weigh(self.counts(texts)), self.dtype)


def _as_dtype(matrix: sparse.csr_matrix, dtype: npt.DTypeLike) -> sparse.csr_matrix:
    # Cast the values only: scipy's `astype` would first sort every row's columns (the product leaves them unsorted).
    matrix.data = matrix.data.astype(dtype, copy=False)
    return matrix


class FastUnion:
    """`FeatureUnion.transform` of TF-IDF parts through `FastTfidf`; falls back to scikit-learn otherwise.

    Built from a fitted `FeatureUnion`, or from the parts' `TfidfSpec`s alone (no scikit-learn needed).
    """

    def __init__(self, union: FeatureUnion | Sequence[TfidfSpec]) -> None:
        self.union: FeatureUnion | None = None
        self.fast: list[FastTfidf] | None
        if isinstance(union, Sequence):
            self.fast = [FastTfidf(spec) for spec in union]
            return
        self.union = union
        parts = [part for _, part in union.transformer_list]
        self.fast = (
            [FastTfidf(p) for p in parts] if all(supports(p) for p in parts) and not union.transformer_weights else None
        )

    @property
    def specs(self) -> list[TfidfSpec]:
        """The parts' specs (only for a union `FastTfidf` reproduces)."""
        if self.fast is None:
            raise ValueError("this feature union has parts the fast transform does not reproduce")
        return [part.spec for part in self.fast]

    def transform(
        self,
        texts: Sequence[str],
        tokens: Sequence[Sequence[str]] | None = None,
        pieces: Sequence[Sequence[str]] | None = None,
    ) -> sparse.csr_matrix:
        """`union.transform(texts)` as a CSR matrix (`tokens`, `pieces`: see `FastTfidf.counts`)."""
        if self.fast is None:
            assert self.union is not None
            return sparse.csr_matrix(self.union.transform(list(texts)))
        dtype = self.fast[0].dtype
        parts = [_as_dtype(part.weigh(part.counts(texts, tokens, pieces)), dtype) for part in self.fast]
        return sparse.csr_matrix(sparse.hstack(parts, format="csr"))
