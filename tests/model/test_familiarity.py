"""Familiarity: the lexicon of product areas and symptoms, the three measures, the cut-offs and the stored index."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from sevtriage.errors import ConfigError
from sevtriage.model import store as model_store
from sevtriage.model.corpus import read_heldout_ids, read_labelled, split
from sevtriage.model.familiarity import (
    FamiliarityIndex,
    Lexicon,
    Measures,
    _best_products,
    _shares,
    calibrate,
    char_wb_ngrams,
    nearest_similarity,
    precision_upper_bound,
    reference_vectors,
)
from sevtriage.model.features import SMALL_BATCH, BatchWords
from sevtriage.model.text_model import ModelSettings, TrainedModel, train
from sevtriage.resources import default_model_path
from sevtriage.text import WORD_RUNS, model_text
from sevtriage.types import REVIEW_TOO_VAGUE, REVIEW_UNFAMILIAR

DATA = Path(__file__).resolve().parents[2] / "data"
FAST = ModelSettings(cv_folds=3, max_iter=200)


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


@pytest.fixture(scope="module")
def small() -> TrainedModel:
    corpus = read_labelled(DATA)
    parts = split(corpus, read_heldout_ids(DATA))
    return train(parts.train[::3], sources=["test slice"], settings=FAST, now=datetime(2026, 1, 2, tzinfo=UTC))


# -- the lexicon -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        ("Nobody can clock in at the terminals", "area:attendance"),
        ("Od rána nefunguje dochádzka", "area:attendance"),
        ("od rana nefunguje dochadzka", "area:attendance"),
        ("Nejde uzavřít měsíc, výkazy jsou zamčené", "area:timesheets"),
        ("nejde uzavrit mesic, vykazy jsou zamcene", "area:timesheets"),
        ("Ako nastavím schvaľovanie dovoleniek?", "area:leave"),
        ("Export do Pohody hlási chybu", "area:payroll"),
        ("Export do Pohody hlási chybu", "symptom:error"),
        ("Aplikace na Androidu padá po spuštění", "symptom:crash"),
        ("the web app shows a white screen", "symptom:crash"),
        ("Can't log in with SSO since morning", "area:login"),
        ("Prihlásenie cez clock-in kiosk", "area:attendance"),
    ],
)
def test_the_lexicon_finds_areas_and_symptoms_in_every_language_with_or_without_diacritics(
    lexicon: Lexicon, text: str, fact: str
) -> None:
    from sevtriage.text import fold

    assert fact in lexicon.facts(fold(text))


@pytest.mark.parametrize(
    "text",
    [
        "hi, something is off with the app since yesterday, can you check?",
        "Dobrý deň, niečo nefunguje, zavolajte mi prosím.",
        "Dobry den, nieco nie je v poriadku, zavolajte mi.",
        "Dobrý den, něco je špatně, zavolejte mi prosím.",
        "Please call me back about our contract renewal.",
        "Dear all, the office will be closed on Friday for the team lunch. Bring your own plates.",
    ],
)
def test_vague_and_off_topic_texts_name_nothing(lexicon: Lexicon, text: str) -> None:
    from sevtriage.text import fold

    assert lexicon.facts(fold(text)) == ()


def test_a_stem_matches_endings_but_only_at_a_word_start(lexicon: Lexicon) -> None:
    assert "area:leave" in lexicon.facts("dovolenku")
    assert "area:leave" in lexicon.facts("dovolenky")
    assert lexicon.facts("predovolenku") == ()


def test_critical_wording_is_found(lexicon: Lexicon) -> None:
    assert lexicon.says_critical("nikto z firmy sa neprihlasi")
    assert lexicon.says_critical("the whole company is waiting")
    assert not lexicon.says_critical("one user cannot see her vacation")


def test_the_corpus_rarely_looks_vague(lexicon: Lexicon) -> None:
    """The lexicon was written for the corpus' product areas: under 2% of training requests name none of them."""
    corpus = read_labelled(DATA)
    vague = [r for r in corpus if not lexicon.facts(model_text(r.subject, r.body))]
    assert len(vague) / len(corpus) < 0.02


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "the lexicon must be a mapping with areas, symptoms, critical"),
        (
            {"version": 1, "areaz": {}},
            "lexicon keys must be one of {version, areas, symptoms, critical}; got ['areaz']",
        ),
        ({"version": 2, "areas": {}}, "version must be 1; got 2"),
        ({"version": 1, "areas": {"x": {"de": ["fehler"]}}}, "areas.x: language must be one of {en, sk, cs}; got 'de'"),
        ({"version": 1, "areas": {"x": {"en": "error"}}}, "areas.x.en must be a list of phrases"),
        ({"version": 1, "areas": {}}, "the lexicon needs at least one area or symptom"),
    ],
)
def test_a_bad_lexicon_is_refused_with_what_is_allowed(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        Lexicon.from_dict(data, "my-lexicon.yaml")
    assert message in str(error.value)
    assert "my-lexicon.yaml" in str(error.value)


def test_a_lexicon_file_that_is_not_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.yaml"
    path.write_text("version: 1\nareas: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        Lexicon.load(path)
    assert f"{path}:" in str(error.value)
    assert "is not valid YAML" in str(error.value)


# -- the measures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("word", ["a", "ab", "prihlasenie", "x" * 7, "e-104"])
def test_character_ngrams_are_those_scikit_learn_makes(word: str) -> None:
    analyzer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)).build_analyzer()
    assert char_wb_ngrams(word, 2, 5) == analyzer(word)


def test_nearest_similarity_is_the_best_cosine() -> None:
    train_rows = sparse.random(30, 50, density=0.2, random_state=1, format="csr", dtype=np.float64)
    queries = sparse.random(5, 50, density=0.3, random_state=2, format="csr", dtype=np.float64)
    queries = sparse.vstack([queries, sparse.csr_matrix((1, 50))]).tocsr()  # an empty request
    reference = reference_vectors(train_rows, terms=50)
    found = nearest_similarity(queries, sparse.csr_matrix(reference.T))
    dense_train = train_rows.toarray()
    dense_train /= np.maximum(np.linalg.norm(dense_train, axis=1, keepdims=True), 1e-12)
    for i, row in enumerate(queries.toarray()):
        norm = np.linalg.norm(row)
        expected = 0.0 if norm == 0 else max(0.0, float(np.max(dense_train @ (row / norm))))
        assert found[i] == pytest.approx(expected, abs=1e-5)


def _largest_of_the_product(features: sparse.csr_matrix, reference_t: sparse.csr_matrix) -> np.ndarray:
    """Each row's largest entry of scipy's public product (how the measure was computed before)."""
    products = sparse.csr_matrix(features @ reference_t)
    out = np.zeros(features.shape[0])
    for i in range(features.shape[0]):
        found = products.data[products.indptr[i] : products.indptr[i + 1]]
        if len(found):
            out[i] = float(found.max())
    return out


def test_the_nearest_product_equals_the_public_product_bit_for_bit() -> None:
    # The bundled model's features (float32, rows with unsorted columns) against its stored training vectors.
    loaded = model_store.load(default_model_path())
    familiarity = loaded.familiarity
    assert familiarity is not None
    texts = [model_text(r.subject, r.body) for r in read_labelled(DATA)[::3]] + ["", "zz qq", "ok ok ok"]
    for size in (1, 7, 400):
        for at in range(0, len(texts), size * 3):
            features = loaded.compiled.transform(texts[at : at + size])
            assert np.array_equal(
                _best_products(features, familiarity.reference_t),
                _largest_of_the_product(features, familiarity.reference_t),
            )
    # Random float32 rows, columns shuffled within each row, empty rows; and mixed types (the public product).
    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        rows = sparse.random(60, 80, density=0.15, random_state=3, format="csr", dtype=dtype)
        for i in range(rows.shape[0]):
            start, end = rows.indptr[i], rows.indptr[i + 1]
            order = rng.permutation(end - start)
            rows.indices[start:end] = rows.indices[start:end][order]
            rows.data[start:end] = rows.data[start:end][order]
        reference = reference_vectors(sparse.random(40, 80, density=0.2, random_state=4, format="csr"), terms=10)
        reference_t = sparse.csr_matrix(reference.T, dtype=np.float32)
        assert np.array_equal(_best_products(rows, reference_t), _largest_of_the_product(rows, reference_t))


def test_reference_vectors_keep_the_heaviest_terms_at_unit_length() -> None:
    rows = sparse.csr_matrix(np.asarray([[0.1, 0.5, 0.2, 0.9], [0.0, 0.0, 0.3, 0.0]]))
    cut = reference_vectors(rows, terms=2).toarray()
    assert np.count_nonzero(cut[0]) == 2 and cut[0][1] > 0 and cut[0][3] > 0
    assert np.linalg.norm(cut, axis=1) == pytest.approx([1.0, 1.0])


def test_calibration_takes_the_largest_quantile_where_the_tail_breaks_the_promise() -> None:
    n = 10_000
    ranks = np.arange(n, dtype=np.float64) / n
    measures = Measures(ranks, ranks, ranks)
    # 30 wrong answers among the least familiar 2%: up to the 3% quantile the tail's precision (90% at 3%) has
    # an upper bound below 95%; at 5% (94%) the bound (95.6%) no longer shows a broken promise.
    correct = np.ones(n, dtype=bool)
    correct[:180:6] = False
    cut = calibrate(measures, correct, np.ones(n, dtype=bool), 0.95, "test")
    assert cut.quantile == 0.03
    assert cut.nearest == pytest.approx(np.quantile(ranks, 0.03), abs=1e-6)
    assert cut.evidence["flagged"] == 300
    assert cut.evidence["tried"]["0.05"]["upper_bound"] > 0.95 > cut.evidence["tried"]["0.03"]["upper_bound"]


def test_the_upper_bound_is_clopper_pearson() -> None:
    from scipy.stats import binomtest

    for right, count in ((170, 200), (9, 10), (0, 5)):
        expected = binomtest(right, count).proportion_ci(confidence_level=0.9, method="exact").high
        assert precision_upper_bound(right, count) == pytest.approx(expected)
    assert precision_upper_bound(5, 5) == 1.0 and precision_upper_bound(0, 0) == 1.0


def test_calibration_falls_back_when_precision_never_drops() -> None:
    ranks = np.arange(500, dtype=np.float64) / 500
    cut = calibrate(Measures(ranks, ranks, ranks), np.ones(500, dtype=bool), np.ones(500, dtype=bool), 0.95, "test")
    assert cut.quantile == 0.01


# -- the trained model -------------------------------------------------------------------------------


def test_training_calibrates_cutoffs_into_the_card(small: TrainedModel) -> None:
    cut = small.card.familiarity
    assert cut is not None
    assert 0 < cut.known_words < 1 and 0 < cut.known_chars < 1 and 0 < cut.nearest < 1
    assert "out of fold" in cut.method and "by source file" in cut.method
    assert 0 < cut.evidence["flagged"] < 0.25 * small.card.training_data.rows
    assert small.card.to_dict()["familiarity"]["quantile"] == cut.quantile


def test_training_requests_are_familiar_and_gibberish_is_not(small: TrainedModel) -> None:
    familiar = model_text("Nobody can log in", "Since 8:00 all our users get error 500 on the login page.")
    gibberish = model_text("Qwxz vrpt", "Zzqv kplm wrrtx bnnq yxxv, ghjk qpwo zxcv?")
    near, far = [o.familiarity for o in small.opinions([familiar, gibberish])]
    assert near is not None and far is not None
    assert near.reasons == ()
    assert REVIEW_UNFAMILIAR in far.reasons and REVIEW_TOO_VAGUE in far.reasons
    assert far.known_words < near.known_words and far.nearest < near.nearest


def test_opinions_without_the_check_carry_no_familiarity(small: TrainedModel) -> None:
    (opinion,) = small.opinions(["hello"], familiarity=False)
    assert opinion.familiarity is None


def test_the_index_survives_the_model_file(small: TrainedModel, tmp_path: Path) -> None:
    path = tmp_path / "m.joblib"
    model_store.save(small, path)
    loaded = model_store.load(path)
    assert loaded.familiarity is not None and loaded.card.familiarity == small.card.familiarity
    texts = [model_text("Export", "Export do Pohody hlási chybu"), "call me"]
    assert [o.familiarity for o in loaded.opinions(texts)] == [o.familiarity for o in small.opinions(texts)]


def test_a_model_stored_without_the_index_still_loads(small: TrainedModel, tmp_path: Path) -> None:
    path = tmp_path / "old.joblib"
    model_store.save(TrainedModel(small.model, small.card), path)
    loaded = model_store.load(path)
    assert loaded.familiarity is None
    assert loaded.opinions(["call me"])[0].familiarity is None


def test_the_record_shows_the_measures(small: TrainedModel) -> None:
    (opinion,) = small.opinions([model_text("", "hi, something is off with the app, can you check?")])
    record = opinion.to_dict()["familiarity"]
    assert set(record) == {"known_words", "known_chars", "nearest", "facts", "says_critical", "reasons"}
    assert record["reasons"] == [REVIEW_TOO_VAGUE]


def test_facts_come_in_lexicon_order_with_critical_apart(lexicon: Lexicon) -> None:
    texts = [model_text(r.subject, r.body) for r in read_labelled(DATA)]
    for text in texts:
        found = lexicon.find(text)
        expected = tuple(name for name in lexicon.names if name in found and name != "critical")
        assert lexicon.assess(text) == (expected, "critical" in found)
    assert any(len(lexicon.assess(text)[0]) > 2 for text in texts)


# Runs where the content-word pattern and plain word runs part ways (see tests/model/test_features.py).
RUN_PIECES = st.sampled_from(
    [
        "prihlasenie",
        "nefunguje",
        "login",
        "outage",
        "app",
        "word",
        "x9",
        "test9",
        "e_mail",
        "_",
        "²",
        "½",
        "Ⅻ",
        "abcd²",
        "ǅǅǅǅ",
        "straße",
        "e\u0301e\u0301e\u0301e\u0301",
        "'",
        "-",
        " ",
        "\n",
        ".",
        "١٢٣٤",
        "chyba",
        "nikto",
    ]
)


@given(st.lists(RUN_PIECES, max_size=20).map("".join))
@settings(max_examples=200, deadline=None)
def test_known_words_and_facts_from_shared_runs_equal_reading_the_text(text: str) -> None:
    _shared_runs_read_as_the_text([text])


def test_known_words_and_facts_from_shared_runs_equal_reading_the_text_on_the_corpus() -> None:
    _shared_runs_read_as_the_text([model_text(r.subject, r.body) for r in read_labelled(DATA)[::2]])


def _shared_runs_read_as_the_text(texts: list[str]) -> None:
    familiarity = _bundled_familiarity()
    for text in texts:
        runs = WORD_RUNS.findall(text)
        for _ in range(2):  # the per-run memo empty, then filled
            assert familiarity._known_words_of(runs) == familiarity._known_words(text)
        assert familiarity._known_chars_of(text.split()) == familiarity._known_chars(text)
        assert familiarity.lexicon.assess(text, runs) == familiarity.lexicon.assess(text)


# -- the batch path: each distinct word looked up once per batch --------------------------------------------------


def _lexicon_words(lexicon: Lexicon) -> list[str]:
    """Words of the bundled lexicon's phrases (first words, stems with endings, the words after), so that phrases of
    several words, repeated phrases and near misses turn up in generated text."""
    words = set(lexicon._exact)
    words |= {stem + ending for stem in lexicon._stems for ending in ("", "a", "ami")}
    for phrases in (*lexicon._exact.values(), *lexicon._stems.values()):
        for _, rest in phrases:
            words |= {word for word, _ in rest}
    return sorted(words)


BATCH_PIECES = st.one_of(
    RUN_PIECES,
    st.sampled_from(_lexicon_words(Lexicon.load())),
    st.sampled_from([" ", " ", "\t", "  ", "\u3000", "Login", "OUTAGE", "Nikto", "x_y", "42", "a1b2"]),
)
# Pieces glued together (odd words, runs across pieces) or spaced, alternately.
BATCH_TEXT = st.lists(BATCH_PIECES, max_size=30).map(
    lambda found: " ".join(found) if len(found) % 2 else "".join(found)
)


@given(st.lists(BATCH_TEXT, min_size=1, max_size=8))
@settings(max_examples=150, deadline=None)
def test_the_batch_path_measures_and_finds_what_each_text_alone_does(texts: list[str]) -> None:
    _batch_reads_as_each_text(texts)


def test_the_batch_path_measures_and_finds_what_each_text_alone_does_on_the_corpus() -> None:
    texts = [model_text(r.subject, r.body) for r in read_labelled(DATA)[::2]]
    _batch_reads_as_each_text(texts)
    _batch_reads_as_each_text(texts[:1])
    _batch_reads_as_each_text(["", *texts[:5], "", "   "])


def _batch_reads_as_each_text(texts: list[str]) -> None:
    """`_known_words_many`, `_known_chars_many` and `Lexicon.assess_many` over one `BatchWords` give, text by text,
    exactly the floats and facts of the per-text functions (and of reading each text with its own pattern)."""
    familiarity = _bundled_familiarity()
    runs = [WORD_RUNS.findall(t) for t in texts]
    pieces = [t.split() for t in texts]
    words, spaced_out = BatchWords.of(runs), BatchWords.of(pieces)
    known_words = familiarity._known_words_many(words).tolist()
    known_chars = familiarity._known_chars_many(spaced_out).tolist()
    facts = familiarity.lexicon.assess_many(words)
    for at, text in enumerate(texts):
        assert known_words[at] == familiarity._known_words_of(runs[at]) == familiarity._known_words(text)
        assert known_chars[at] == familiarity._known_chars_of(pieces[at]) == familiarity._known_chars(text)
        assert facts[at] == familiarity.lexicon.assess(text, runs[at]) == familiarity.lexicon.assess(text)


@pytest.mark.parametrize("size", ["all", "small", "one"])
def test_the_batch_assessment_equals_each_text_measured_alone(size: str) -> None:
    """`FamiliarityIndex.assess` of a batch (numbered words, or plain lists, or nothing given) against a
    `Familiarity` built from the per-text functions, reasons included; for a batch that is numbered, and for the
    small batches (under `SMALL_BATCH` texts) that are measured text by text unless the caller numbered them."""
    model = model_store.load(default_model_path())
    familiarity = model.familiarity
    assert familiarity is not None and familiarity.cutoffs is not None
    texts = [model_text(r.subject, r.body) for r in read_labelled(DATA)[1::7]]
    texts += ["", "asdf qwer zxcv", "Nefunguje PRIHLASENIE", "outage outage outage"]
    assert len(texts) >= SMALL_BATCH
    texts = {"all": texts, "small": texts[-(SMALL_BATCH - 1) :], "one": texts[-1:]}[size]
    features = model.compiled.transform(texts)
    nearest = nearest_similarity(features, familiarity.reference_t).tolist()
    runs = [WORD_RUNS.findall(t) for t in texts]
    pieces = [t.split() for t in texts]
    spaced_out = BatchWords.of(pieces)
    given_forms = [
        (spaced_out.within(WORD_RUNS.findall), spaced_out),
        (BatchWords.of(runs), spaced_out),
        (runs, pieces),
        (None, None),
    ]
    cut = familiarity.cutoffs
    for tokens, spaced in given_forms:
        assessed = familiarity.assess(texts, features, tokens, spaced)
        for at, text in enumerate(texts):
            words, chars = familiarity._known_words(text), familiarity._known_chars(text)
            facts, says_critical = familiarity.lexicon.assess(text)
            one = assessed[at]
            assert (one.known_words, one.known_chars, one.nearest) == (words, chars, nearest[at])
            assert (one.facts, one.says_critical) == (facts, says_critical)
            unfamiliar = words < cut.known_words or chars < cut.known_chars or nearest[at] < cut.nearest
            expected = (REVIEW_UNFAMILIAR,) * unfamiliar + (REVIEW_TOO_VAGUE,) * (not facts)
            assert one.reasons == expected
    if size != "one":
        assert any(one.reasons for one in assessed) and any(one.facts for one in assessed)


@given(st.lists(st.tuples(st.integers(0, 2**53 - 1), st.integers(1, 2**53 - 1)), min_size=1, max_size=50))
@settings(max_examples=200, deadline=None)
def test_shares_divided_by_numpy_are_pythons_int_division(pairs: list[tuple[int, int]]) -> None:
    """Counts below 2**53 are exact in float64, and both divisions round the exact quotient to nearest."""
    known = np.asarray([k for k, _ in pairs], dtype=np.int64)
    total = np.asarray([t for _, t in pairs], dtype=np.int64)
    expected = [k / t for k, t in pairs]
    assert _shares(known, total).tolist() == expected
    assert _shares(known.astype(np.float64), total.astype(np.float64)).tolist() == expected
    assert _shares(np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)).tolist() == [0.0, 0.0]


_BUNDLED: list[FamiliarityIndex] = []


def _bundled_familiarity() -> FamiliarityIndex:
    if not _BUNDLED:
        index = model_store.load(default_model_path()).familiarity
        assert index is not None
        _BUNDLED.append(index)
    return _BUNDLED[0]
