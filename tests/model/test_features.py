"""The fast TF-IDF transform gives scikit-learn's own result, on the corpus and on awkward text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from sevtriage.model.corpus import read_labelled
from sevtriage.model.features import BatchWords, FastTfidf, FastUnion, sorted_unique, supports
from sevtriage.model.text_model import model_text

DATA = Path(__file__).resolve().parents[2] / "data"
CORPUS_TEXTS = [model_text(r.subject, r.body) for r in read_labelled(DATA)]


def _fitted(analyzer: str, ngrams: tuple[int, int], **options: object) -> TfidfVectorizer:
    vectorizer = TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, dtype=np.float32, **options)  # type: ignore[arg-type]
    return vectorizer.fit(CORPUS_TEXTS[::3])


VECTORIZERS = [
    ("char_wb", (2, 5), {"sublinear_tf": True, "min_df": 2}),
    ("char_wb", (1, 3), {"sublinear_tf": False}),
    ("word", (1, 2), {"sublinear_tf": True, "token_pattern": r"(?u)\b[^\W\d_]{2,}\b", "min_df": 2}),
    ("word", (1, 1), {"norm": None}),
]


@pytest.mark.parametrize(("analyzer", "ngrams", "options"), VECTORIZERS)
def test_same_matrix_as_scikit_learn_on_the_corpus(
    analyzer: str, ngrams: tuple[int, int], options: dict[str, object]
) -> None:
    vectorizer = _fitted(analyzer, ngrams, **options)
    texts = CORPUS_TEXTS[1::3]
    expected = vectorizer.transform(texts).toarray()
    got = FastTfidf(vectorizer).transform(texts).toarray()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


CHAR_WB = _fitted("char_wb", (2, 5), sublinear_tf=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="ab cčd\t\n-x", max_size=30), min_size=1, max_size=4))
def test_short_words_and_odd_spacing_match_scikit_learn(texts: list[str]) -> None:
    expected = CHAR_WB.transform(texts).toarray()
    np.testing.assert_allclose(FastTfidf(CHAR_WB).transform(texts).toarray(), expected, rtol=1e-5, atol=1e-6)


def test_union_of_the_shipped_kind_matches_and_unsupported_parts_fall_back() -> None:
    union = FeatureUnion(
        [("word", _fitted("word", (1, 2), sublinear_tf=True)), ("char", _fitted("char_wb", (2, 5), sublinear_tf=True))]
    )
    texts = CORPUS_TEXTS[:200]
    np.testing.assert_allclose(
        FastUnion(union).transform(texts).toarray(), union.transform(texts).toarray(), rtol=1e-5, atol=1e-6
    )
    odd = TfidfVectorizer(analyzer="char").fit(CORPUS_TEXTS[:50])
    assert not supports(odd)
    assert FastUnion(FeatureUnion([("char", odd)])).fast is None


def _same_csr(a: object, b: object) -> None:
    from scipy import sparse

    assert isinstance(a, sparse.csr_matrix) and isinstance(b, sparse.csr_matrix)
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


WORD_PARTS = [
    FastTfidf(_fitted("word", (1, 2), sublinear_tf=True, token_pattern=r"(?u)\b[^\W\d_]{2,}\b", min_df=2)),
    FastTfidf(_fitted("word", (1, 1))),
    FastTfidf(_fitted("word", (2, 2))),
]


@pytest.mark.parametrize("part", WORD_PARTS)
def test_word_pairs_for_the_batch_are_exactly_the_counts_text_by_text(part: FastTfidf) -> None:
    texts = CORPUS_TEXTS[1::3]
    _same_csr(part._word_pairs_matrix(texts), part._word_ngrams_text_by_text(texts))
    _same_csr(part._word_pairs_matrix([]), part._word_ngrams_text_by_text([]))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(["the", "app", "is", "down", "x", "zzzz", "9", "-", "Nie", "ide"])), max_size=5)
)
def test_word_pairs_never_join_words_across_texts(words: list[list[str]]) -> None:
    texts = [" ".join(w) for w in words]
    for part in WORD_PARTS:
        _same_csr(part._word_pairs_matrix(texts), part._word_ngrams_text_by_text(texts))


# Text where the letters-only pattern and plain word runs part ways: digits, underscores, numerals that are not
# decimal digits (², ½, Roman numeral Ⅻ), combining marks, apostrophes, hyphens, one-letter words, upper case
# (which the shared runs do not serve: the text is read again), and words of the corpus's vocabulary.
RUN_ALPHABET = st.sampled_from(
    [
        "app",
        "nefunguje",
        "prihlasenie",
        "the",
        "is",
        "down",
        "a",
        "x9",
        "9x",
        "e_mail",
        "_",
        "²",
        "½",
        "Ⅻ",
        "ab²",
        "ǅ",
        "ß",
        "é",
        "e\u0301",
        "'",
        "-",
        " ",
        "  ",
        "\n",
        "\t",
        ".",
        "Nie",
        "ide",
        "ΟΔΟΣ",
        "١٢",
        "it's",
    ]
)


@given(st.lists(st.lists(RUN_ALPHABET, max_size=12).map("".join), max_size=6))
@settings(max_examples=150, deadline=None)
def test_word_counts_from_shared_runs_equal_reading_the_text(texts: list[str]) -> None:
    _runs_serve_every_word_part(texts)


def test_word_counts_from_shared_runs_equal_reading_the_text_on_the_corpus() -> None:
    _runs_serve_every_word_part(CORPUS_TEXTS[::2])


def _runs_serve_every_word_part(texts: list[str]) -> None:
    from sevtriage.model.features import LETTER_WORDS
    from sevtriage.text import WORD_RUNS

    runs = [WORD_RUNS.findall(t) for t in texts]
    numbered = BatchWords.of(runs)
    for part in WORD_PARTS:
        expected = part._word_ngrams_text_by_text(texts)
        fresh = FastTfidf(part.spec)  # empty per-run memo, then a warm one
        _same_csr(fresh.counts(texts, runs), expected)  # a few texts: text by text while there are no tables
        if part.max_n <= 2:
            # The vocabulary tables are the same for every copy; sharing them keeps the examples fast.
            fresh._tables = part._word_tables()
            for _ in range(2):
                _same_csr(fresh._word_pairs_matrix(texts, runs), expected)
                _same_csr(fresh.counts(texts, numbered), expected)
            for at, text in enumerate(texts[:6]):  # a text as a batch of one
                _same_csr(fresh._word_pairs_matrix([text], BatchWords.of(runs[at : at + 1])), expected[at])
    assert WORD_PARTS[0].spec.token_pattern == LETTER_WORDS


def test_a_few_texts_need_no_vocabulary_tables_and_a_batch_makes_them() -> None:
    """`classify --text` skips making the tables (about 20 ms); a batch makes them once and keeps them."""
    part = WORD_PARTS[0]
    fresh = FastTfidf(part.spec)
    few = CORPUS_TEXTS[:3]
    _same_csr(fresh.counts(few), part._word_ngrams_text_by_text(few))
    assert fresh._tables is None
    batch = CORPUS_TEXTS[:40]
    _same_csr(fresh.counts(batch), part._word_ngrams_text_by_text(batch))
    assert fresh._tables is not None
    _same_csr(fresh.counts(few), part._word_ngrams_text_by_text(few))


CHAR_PARTS = [FastTfidf(_fitted("char_wb", (2, 5), sublinear_tf=True, min_df=2)), FastTfidf(CHAR_WB)]
# White space of every kind `str.split` and `re`'s `\s` know (and U+200B, which neither does), upper case.
SPACED = st.lists(
    st.sampled_from(
        [
            "ab",
            "prihlasenie",
            "x",
            "é",
            "Ab",
            "ǅ",
            " ",
            "  ",
            "\t",
            "\n",
            "\r\n",
            "\x0b",
            "\x0c",
            "\x1c",
            "\x1f",
            "\x85",
            "\u00a0",
            "\u2028",
            "\u3000",
            "\u200b",
            "-",
            "9",
        ]
    ),
    max_size=14,
).map("".join)


@given(st.lists(SPACED, max_size=5))
@settings(max_examples=150, deadline=None)
def test_character_counts_from_shared_pieces_equal_reading_the_text(texts: list[str]) -> None:
    _pieces_serve_every_char_part(texts)


def test_character_counts_from_shared_pieces_equal_reading_the_text_on_the_corpus() -> None:
    _pieces_serve_every_char_part(CORPUS_TEXTS[::2])


def _pieces_serve_every_char_part(texts: list[str]) -> None:
    pieces = [t.split() for t in texts]
    for part in CHAR_PARTS:
        expected = _char_counts_numbered_text_by_text(part, texts)
        _same_csr(part.counts(texts), expected)
        _same_csr(part.counts(texts, None, pieces), expected)
        _same_csr(part.counts(texts, None, BatchWords.of(pieces)), expected)


def _char_counts_numbered_text_by_text(part: FastTfidf, texts: list[str]) -> object:
    """The character counts as they were made before `BatchWords`: words numbered by a `setdefault` per word, text
    after text. The product's column order follows that numbering, and the scores' float sums follow the columns."""
    import re

    from scipy import sparse

    index: dict[str, int] = {}
    ids: list[int] = []
    indptr = [0]
    for text in texts:
        ids.extend([index.setdefault(word, len(index)) for word in re.sub(r"\s\s+", " ", text.lower()).split()])
        indptr.append(len(ids))
    per_document = sparse.csr_matrix((np.ones(len(ids)), ids, indptr), shape=(len(texts), len(index)))
    parts = [part._word_counts(word) for word in index]
    per_word = sparse.csr_matrix(
        (
            np.concatenate([tally for _, tally in parts]) if parts else np.zeros(0),
            np.concatenate([columns for columns, _ in parts]) if parts else np.zeros(0, dtype=np.int64),
            np.concatenate([[0], np.cumsum([len(columns) for columns, _ in parts], dtype=np.int64)]),
        ),
        shape=(len(parts), part.n_features),
    )
    return sparse.csr_matrix(per_document @ per_word)


# -- the batch's words numbered once -----------------------------------------------------------------------------

UNITS = st.lists(
    st.lists(st.sampled_from(["app", "down", "Down", "x9", "_", "", "é", "e\u0301", "ab cd", "\x00", "1"]), max_size=8),
    max_size=6,
)


@given(UNITS)
@settings(max_examples=200, deadline=None)
def test_batch_words_number_each_distinct_unit_once_in_order_of_first_appearance(per_text: list[list[str]]) -> None:
    words = BatchWords.of(per_text)
    index: dict[str, int] = {}
    expected = [[index.setdefault(unit, len(index)) for unit in units] for units in per_text]
    assert words.distinct == list(index)
    assert len(words) == len(per_text)
    for row, numbers in enumerate(expected):
        start, end = words.starts[row], words.starts[row + 1]
        assert words.ids[start:end].tolist() == numbers
        assert words.rows[start:end].tolist() == [row] * len(numbers)
        assert [words.distinct[n] for n in words.ids[start:end]] == per_text[row]
    rows, numbers = words.distinct_pairs()
    assert sorted(zip(rows.tolist(), numbers.tolist(), strict=True)) == sorted(
        {(row, n) for row, found in enumerate(expected) for n in found}
    )
    keep = np.asarray([words.distinct[n] != "app" for n in words.ids.tolist()], dtype=bool)
    rows, numbers = words.distinct_pairs(keep)
    assert sorted(zip(rows.tolist(), numbers.tolist(), strict=True)) == sorted(
        {(row, n) for row, found in enumerate(expected) for n in found if words.distinct[n] != "app"}
    )


@given(st.lists(st.lists(st.one_of(RUN_ALPHABET, SPACED), max_size=10).map("".join), max_size=6))
@settings(max_examples=200, deadline=None)
def test_runs_within_the_pieces_are_the_runs_of_each_text(texts: list[str]) -> None:
    from sevtriage.text import WORD_RUNS

    runs = BatchWords.of([t.split() for t in texts]).within(WORD_RUNS.findall)
    assert len(runs) == len(texts)
    assert len(set(runs.distinct)) == len(runs.distinct)
    for row, text in enumerate(texts):
        expected = WORD_RUNS.findall(text)
        start, end = runs.starts[row], runs.starts[row + 1]
        assert list(runs.per_text[row]) == expected
        assert [runs.distinct[n] for n in runs.ids[start:end]] == expected
        assert runs.rows[start:end].tolist() == [row] * len(expected)


def test_no_character_that_str_split_splits_at_is_a_word_character() -> None:
    """What lets `BatchWords.within` read a text's runs piece by piece: a run never crosses white space."""
    import re
    import sys

    word = re.compile(r"\w")
    spaces = [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()]
    assert all(len(f"a{c}a".split()) == 2 for c in spaces)
    assert [c for c in spaces if word.match(c)] == []
    assert len(spaces) >= 25


@given(st.lists(st.integers(min_value=0, max_value=2**62), max_size=60) | st.lists(st.integers(0, 5), max_size=60))
@settings(max_examples=200, deadline=None)
def test_sorted_unique_is_numpys_unique_with_counts(keys: list[int]) -> None:
    array = np.asarray(keys, dtype=np.int64)
    unique, counts = sorted_unique(array)
    expected_unique, expected_counts = np.unique(array, return_counts=True)
    np.testing.assert_array_equal(unique, expected_unique)
    np.testing.assert_array_equal(counts, expected_counts)
    assert unique.dtype == np.int64 and counts.dtype == np.int64
