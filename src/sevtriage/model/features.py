"""A faster `transform` for fitted TF-IDF vectorizers, with the same output as scikit-learn's.

scikit-learn builds every character n-gram of every word in Python for each document (about two thirds of a
request's model time). Words repeat across requests (Zipf), so the n-gram columns of each distinct word are
computed once and remembered; a document's counts are then the sum over its words. Word n-grams are looked up
directly in the vocabulary. The TF-IDF weighting (sublinear tf, idf, l2 norm) is applied as scikit-learn does.
`tests/test_fast_features.py` checks the result against scikit-learn's own `transform` on the corpus.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, pairwise
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


IntArray = npt.NDArray[np.int64]
# Below this many texts a batch is not numbered (`BatchWords`): its numpy calls cost more than the lookups they save
# (the service's batches of a few requests, one `classify --text`).
SMALL_BATCH = 32


@dataclass(frozen=True, slots=True)
class BatchWords:
    """A batch's units (each text's `text.WORD_RUNS` tokens, or its `str.split()` pieces), each distinct unit
    numbered once.

    Words repeat across a batch's texts, so what a consumer knows of a unit (its word number, whether it is a known
    content word, its lexicon phrases, its known character n-grams) is looked up once per distinct unit; the
    per-text results then come from numpy over `ids` instead of a dict lookup per occurrence.
    """

    per_text: Sequence[Sequence[str]]  # each text's units, in order
    distinct: list[str]  # the batch's distinct units, by number (`of`: in order of first appearance)
    ids: IntArray  # every occurrence's number, text after text
    starts: IntArray  # text i's occurrences are ids[starts[i] : starts[i + 1]]
    rows: IntArray  # the text of every occurrence

    @classmethod
    def of(cls, per_text: Sequence[Sequence[str]]) -> BatchWords:
        """Number the distinct units of `per_text` in order of first appearance (in C: no Python loop per unit)."""
        flat = list(chain.from_iterable(per_text))
        distinct = list(dict.fromkeys(flat))
        number = dict(zip(distinct, range(len(distinct)), strict=True))
        ids = np.fromiter(map(number.__getitem__, flat), dtype=np.int64, count=len(flat))
        lengths = np.fromiter(map(len, per_text), dtype=np.int64, count=len(per_text))
        starts = np.zeros(len(per_text) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        rows = np.repeat(np.arange(len(per_text), dtype=np.int64), lengths)
        return cls(per_text, distinct, ids, starts, rows)

    def __len__(self) -> int:
        return len(self.per_text)

    def within(self, read: Callable[[str], list[str]]) -> BatchWords:
        """The units that `read` finds inside these units, each distinct unit read once: the `\\w+` runs of the
        texts from their `str.split()` pieces.

        A text's runs are the runs of its pieces, in order, because a run never crosses white space: no character
        `str.split` splits at is a word character (`tests/model/test_features.py` checks every code point).
        The inner units are numbered in order of first appearance among the distinct outer units.
        """
        # The distinct outer units, each as a "text" of its inner units, numbered as `of` numbers any batch.
        inner = BatchWords.of([[unit] if unit.isalnum() else read(unit) for unit in self.distinct])
        distinct, inner_ids, inner_starts = inner.distinct, inner.ids, inner.starts
        inner_lengths = np.diff(inner_starts)
        # Each occurrence of an outer unit stands for its inner units: gather them, occurrence after occurrence.
        lengths = inner_lengths[self.ids]
        ends = np.cumsum(lengths)
        total = int(ends[-1]) if len(ends) else 0
        at = np.repeat(inner_starts[self.ids] - (ends - lengths), lengths) + np.arange(total, dtype=np.int64)
        ids = inner_ids[at]
        rows = np.repeat(self.rows, lengths)
        starts = np.zeros(len(self) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(self)), out=starts[1:])
        flat = list(map(distinct.__getitem__, ids.tolist()))
        bounds = starts.tolist()
        per_text = [flat[start:end] for start, end in pairwise(bounds)]
        return BatchWords(per_text, distinct, ids, starts, rows)

    def distinct_pairs(self, keep: npt.NDArray[np.bool_] | None = None) -> tuple[IntArray, IntArray]:
        """The distinct (text, unit number) pairs, sorted, of the occurrences `keep` selects (all by default)."""
        rows, ids = (self.rows, self.ids) if keep is None else (self.rows[keep], self.ids[keep])
        width = max(len(self.distinct), 1)
        pairs = sorted_unique(rows * width + ids)[0]
        return pairs // width, pairs % width


def sorted_unique(keys: IntArray) -> tuple[IntArray, IntArray]:
    """`np.unique(keys, return_counts=True)` of integer keys: a sort and its run boundaries, which is about three
    times faster here (numpy 2's `unique` hashes integers first, slower for the batch's tens of thousands)."""
    ordered = np.sort(keys)
    if not len(ordered):
        return ordered, _EMPTY
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


Units = BatchWords | Sequence[Sequence[str]]


def batch_words(units: Units) -> BatchWords:
    """`units` as a `BatchWords` (numbered once here unless the caller did)."""
    return units if isinstance(units, BatchWords) else BatchWords.of(units)


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
        tokens: Units | None = None,
        pieces: Units | None = None,
    ) -> sparse.csr_matrix:
        """Raw n-gram counts of `texts` (what scikit-learn's `CountVectorizer` part computes), as float64 CSR.

        `tokens` are each text's `text.WORD_RUNS` runs when the caller has them (best as a `BatchWords`, numbered
        once for the batch): word n-grams of the letters-only pattern then come from them (see `_word_numbers`)
        instead of a second reading of the text. `pieces` are each text's `str.split()`: the words of character
        n-grams, for text that `lower()` leaves as it is (scikit-learn's squeezing of white space runs before
        splitting changes no piece: `re`'s `\\s` and `str.split` know the same white space).
        """
        if self.spec.analyzer == "char_wb":
            return self._char_wb_counts(texts, pieces)
        return self._word_counts_matrix(texts, tokens)

    def _char_wb_counts(self, texts: Sequence[str], pieces: Units | None = None) -> sparse.csr_matrix:
        # char_wb n-grams never cross a word, so a document's counts are (documents x words) @ (words x n-grams):
        # one sparse product in scipy's C++ instead of a Python sum per document.
        words = self._char_words(texts, pieces)
        per_document = sparse.csr_matrix(
            (np.ones(len(words.ids)), words.ids, words.starts), shape=(len(texts), len(words.distinct))
        )
        cache = self._word_counts_cache.words  # words with a digit are looked up in `_word_counts`
        parts = [cache.get(word) or self._word_counts(word) for word in words.distinct]
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

    def _char_words(self, texts: Sequence[str], pieces: Units | None) -> BatchWords:
        """The batch's words for character n-grams: the caller's pieces, except for text that `lower()` changes
        (read again, lowered, with white space squeezed as scikit-learn does). Numbered as a text-by-text
        `setdefault` would number them, so the product's column order is the same."""
        if pieces is None:
            return BatchWords.of([_WHITE_SPACES.sub(" ", text.lower()).split() for text in texts])
        given = batch_words(pieces)
        changed = [at for at, text in enumerate(texts) if text.lower() != text]
        if not changed:
            return given
        words = list(given.per_text)
        for at in changed:
            words[at] = _WHITE_SPACES.sub(" ", texts[at].lower()).split()
        return BatchWords.of(words)

    def _word_counts_matrix(self, texts: Sequence[str], tokens: Units | None = None) -> sparse.csr_matrix:
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

    def _word_pairs_matrix(self, texts: Sequence[str], tokens: Units | None = None) -> sparse.csr_matrix:
        """`_word_counts_matrix` for word 1- and 2-grams, with the n-grams looked up by numpy for the whole batch.

        Each token becomes the number of its word among the vocabulary's words (-1 for a word no term uses): with
        the caller's tokens one lookup per distinct token of the batch (`_word_numbers`), else one per token. A
        bigram is then the pair of neighbouring numbers inside one text, found in the sorted pair codes of the
        vocabulary's bigrams. The counts are the same, and the rows are sorted and summed as `sum_duplicates`
        leaves them, so the matrix is the same.
        """
        words, unigram_columns, pair_codes, pair_columns = self._word_tables()
        ids, rows = self._token_numbers(texts, tokens)
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
        unique, tally = sorted_unique(keys)
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(unique // self.n_features, minlength=len(texts)), out=indptr[1:])
        return sparse.csr_matrix(
            (tally.astype(np.float64), unique % self.n_features, indptr), shape=(len(texts), self.n_features)
        )

    def _token_numbers(self, texts: Sequence[str], tokens: Units | None) -> tuple[IntArray, IntArray]:
        """Every token's word number (-1: a word no term uses) and its text; each text's tokens stay together and
        in order (texts read again come last: the counts are sorted by text afterwards)."""
        lookup = self._word_tables()[0].get
        reread: Sequence[int]
        if tokens is None or self.spec.token_pattern != LETTER_WORDS:
            reread = range(len(texts))
            ids, rows = _EMPTY, _EMPTY
        else:
            batch = batch_words(tokens)
            numbers = self._word_numbers(batch.distinct)[batch.ids]
            keep = numbers != _NOT_A_WORD
            reread = [at for at, text in enumerate(texts) if text.lower() != text]
            if reread:
                # The shared runs serve only text that `lower()` leaves as it is; the rest is read again below.
                served = np.ones(len(texts), dtype=bool)
                served[reread] = False
                keep &= served[batch.rows]
            ids, rows = numbers[keep], batch.rows[keep]
        more: list[int] = []
        lengths: list[int] = []
        for at in reread:
            read = self.token_pattern.findall(texts[at].lower())
            more.extend([lookup(token, -1) for token in read])
            lengths.append(len(read))
        if not more:
            return ids, rows
        more_rows = np.repeat(np.asarray(reread, dtype=np.int64), lengths)
        return np.concatenate([ids, np.asarray(more, dtype=np.int64)]), np.concatenate([rows, more_rows])

    def _word_numbers(self, runs: Sequence[str]) -> IntArray:
        """The word number of each `\\w+` run (-1: letters only, but a word no term uses; `_NOT_A_WORD`: a run the
        `LETTER_WORDS` pattern does not take, which is left out and so joins no bigram).

        The pattern's word boundaries fall exactly at a run's ends, so its tokens are the runs of two or more
        letters, in order. Valid for text that `lower()` leaves as it is (the caller checks). What each run that is
        not a vocabulary word gives is remembered.
        """
        numbers = list(map(self._word_tables()[0].get, runs))
        kinds = self._run_kinds.words
        for at, number in enumerate(numbers):
            if number is None:
                kind = kinds.get(runs[at])
                numbers[at] = kind if kind is not None else self._run_kind(runs[at])
        return np.asarray(numbers, dtype=np.int64) if numbers else _EMPTY

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
        tokens: Units | None = None,
        pieces: Units | None = None,
    ) -> sparse.csr_matrix:
        """`union.transform(texts)` as a CSR matrix (`tokens`, `pieces`: see `FastTfidf.counts`)."""
        if self.fast is None:
            assert self.union is not None
            return sparse.csr_matrix(self.union.transform(list(texts)))
        dtype = self.fast[0].dtype
        parts = [_as_dtype(part.weigh(part.counts(texts, tokens, pieces)), dtype) for part in self.fast]
        return sparse.csr_matrix(sparse.hstack(parts, format="csr"))
