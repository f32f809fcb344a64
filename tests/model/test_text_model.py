"""The text model: features, calibrated probabilities, bias-adjusted labels, explanations, the card."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from sevtriage.model.corpus import LabelledRequest, read_heldout_ids, read_labelled, split
from sevtriage.model.text_model import LABELS, ModelSettings, SeverityModel, TrainedModel, macro_f1, model_text, train
from sevtriage.types import Severity

DATA = Path(__file__).resolve().parents[2] / "data"
FAST = ModelSettings(cv_folds=3, max_iter=200)


@pytest.fixture(scope="module")
def corpus() -> list[LabelledRequest]:
    return read_labelled(DATA)


@pytest.fixture(scope="module")
def small(corpus: list[LabelledRequest]) -> TrainedModel:
    parts = split(corpus, read_heldout_ids(DATA))
    # Every third training request keeps all languages and severities and trains in about a second.
    return train(parts.train[::3], sources=["test slice"], settings=FAST, now=datetime(2026, 1, 2, tzinfo=UTC))


def test_model_text_folds_and_drops_the_signature() -> None:
    text = model_text("Re: Nefunguje PRIHLÁSENIE", "Nikto sa nevie prihlásiť.\n\nS pozdravom\nJana Nováková")
    assert text == "nefunguje prihlasenie\nnikto sa nevie prihlasit."


def test_probabilities_are_a_distribution_over_the_four_severities(small: TrainedModel) -> None:
    prediction = small.model.predict(["app down for everyone", "how do I export a report", "preklep v menu"])
    assert prediction.probabilities.shape == (3, 4)
    assert np.allclose(prediction.probabilities.sum(axis=1), 1.0)
    assert set(prediction.labels.tolist()) <= set(LABELS)


def test_opinions_explain_with_terms_from_the_request(small: TrainedModel) -> None:
    texts = [model_text("Nobody can log in", "The whole company gets an error page since 8:00, nobody can work.")]
    (opinion,) = small.opinions(texts, top_k=5)
    assert 1 <= len(opinion.top_terms) <= 5
    for term in opinion.top_terms:
        # Word features are shown as they are; character n-grams with a "~" in front.
        assert term.removeprefix("~") in texts[0]
    assert opinion.probabilities[int(opinion.severity)] == pytest.approx(
        small.model.predict(texts).probabilities[0, int(opinion.severity) - 1]
    )


def _top_terms_one_by_one(model: SeverityModel, text: str, label: int, top_k: int) -> tuple[str, ...]:
    """The top-terms rule written plainly for one text: contributions sorted, words first, n-grams fill in."""
    row = model.transform([text])
    coef = np.asarray(model.classifier.coef_, dtype=np.float64)
    weights = (coef - coef.mean(axis=0))[list(model.classifier.classes_).index(label)]
    found = sorted((-value * weights[column], int(column)) for column, value in zip(row.indices, row.data, strict=True))
    positive = [column for minus, column in found if minus < 0]
    words = [str(model.feature_names[c]) for c in positive if c < model.n_word_features][:top_k]
    chars = [f"~{str(model.feature_names[c]).strip()}" for c in positive if c >= model.n_word_features][:top_k]
    return tuple((words + chars)[:top_k])


@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 12), st.sampled_from([0.5, 1.0, 2.0, 1e-300, 3.25, 7.0])),
        max_size=40,
        unique_by=lambda entry: (entry[0], entry[1]),
    ),
    st.integers(1, 4),
    st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_the_best_columns_of_each_row_are_the_largest_values_ties_to_the_lower_column(
    entries: list[tuple[int, int, float]], k: int, sort_columns: bool
) -> None:
    """`_best_per_row` against a plain sort, for rows with sorted columns (the fast path) and unsorted ones."""
    from sevtriage.model.compiled import _best_per_row

    # CSR order: by row; within a row, columns ascending or as they came.
    entries = sorted(entries, key=lambda e: (e[0], e[1]) if sort_columns else (e[0],))
    rows = np.asarray([e[0] for e in entries], dtype=np.int64)
    columns = np.asarray([e[1] for e in entries], dtype=np.int64)
    values = np.asarray([e[2] for e in entries], dtype=np.float64)
    expected = [[c for _, c in sorted((-v, c) for r, c, v in entries if r == row)][:k] for row in range(6)]
    assert _best_per_row(rows, columns, values, k, 6) == expected


@pytest.mark.parametrize("top_k", [1, 3, 5, 12])
def test_top_terms_of_a_batch_are_those_of_each_request_alone(
    small: TrainedModel, corpus: list[LabelledRequest], top_k: int
) -> None:
    texts = [model_text(r.subject, r.body) for r in corpus[::7]] + ["", "zz", "ok ok ok", "error"]
    opinions = small.model.opinions(texts, top_k=top_k)
    for text, opinion in zip(texts, opinions, strict=True):
        assert opinion.top_terms == _top_terms_one_by_one(small.model, text, int(opinion.severity), top_k)


def test_opinions_of_a_batch_are_those_of_each_request_alone_with_and_without_familiarity(
    small: TrainedModel, corpus: list[LabelledRequest]
) -> None:
    """The batch's word index (`BatchWords`) against a batch of one, text that `lower()` changes, empty text and
    repeated words included; `familiarity=False` gives the same model answers without the check."""
    texts = [model_text(r.subject, r.body) for r in corpus[3::11]]
    texts += ["", "Prihlasenie NEFUNGUJE", "login login login login", "x9 e_mail ²½ 42", " \t\u3000 ", "ǅemo test"]
    batch = small.opinions(texts)
    plain = small.opinions(texts, familiarity=False)
    assert len(batch) == len(plain) == len(texts) > 40
    for text, opinion, without in zip(texts, batch, plain, strict=True):
        (alone,) = small.opinions([text])
        assert (alone.severity, alone.top_terms, alone.familiarity) == (
            opinion.severity,
            opinion.top_terms,
            opinion.familiarity,
        )
        # The calibrator's dense product may round the last bit differently for 1 row than for many (so on main too).
        assert alone.probabilities == pytest.approx(opinion.probabilities, rel=1e-12, abs=1e-15)
        assert opinion.familiarity is not None and without.familiarity is None
        assert (opinion.severity, opinion.probabilities, opinion.top_terms) == (
            without.severity,
            without.probabilities,
            without.top_terms,
        )


def test_a_lone_request_names_its_terms_without_listing_every_name_and_the_same(
    small: TrainedModel, corpus: list[LabelledRequest]
) -> None:
    """`classify --text` names a handful of columns one by one instead of making all names strings (20 ms)."""
    compiled = small.model.compiled
    compiled._name_list = None
    texts = [model_text(r.subject, r.body) for r in corpus[3::50]] + ["zz", "error"]
    for text in texts:
        (opinion,) = small.model.opinions([text], top_k=5)
        assert opinion.top_terms == _top_terms_one_by_one(small.model, text, int(opinion.severity), 5)
    assert compiled._name_list is None
    batch = small.model.opinions(texts * 8, top_k=5)  # 32 rows and more: the list is made once
    assert compiled._name_list is not None
    assert [o.top_terms for o in batch[: len(texts)]] == [o.top_terms for o in small.model.opinions(texts, top_k=5)]


def test_opinions_of_an_empty_batch_are_empty(small: TrainedModel) -> None:
    assert small.opinions([]) == []


def test_training_is_deterministic(corpus: list[LabelledRequest], small: TrainedModel) -> None:
    parts = split(corpus, read_heldout_ids(DATA))
    again = train(parts.train[::3], sources=["test slice"], settings=FAST, now=datetime(2026, 1, 2, tzinfo=UTC))
    texts = [model_text(r.subject, r.body) for r in parts.heldout[:50]]
    first, second = small.model.predict(texts), again.model.predict(texts)
    assert np.array_equal(first.labels, second.labels)
    assert np.allclose(first.probabilities, second.probabilities)
    assert again.card.model_version == small.card.model_version


def test_bias_tuning_does_not_lower_out_of_fold_macro_f1(small: TrainedModel) -> None:
    oof = small.model.out_of_fold
    assert oof is not None
    plain = np.asarray(LABELS)[np.argmax(oof.scores, axis=1)]
    assert macro_f1(oof.y_true, oof.predicted) >= macro_f1(oof.y_true, plain)


def test_card_describes_the_training(small: TrainedModel, corpus: list[LabelledRequest]) -> None:
    card = small.card
    assert card.labels == LABELS
    assert card.model_version.startswith("20260102-")
    assert card.created_at == "2026-01-02T00:00:00+00:00"
    assert card.training_data.rows == sum(card.training_data.counts["severity"].values())
    assert set(card.training_data.counts["language"]) == {"cs", "en", "sk"}
    assert {"python", "scikit-learn", "numpy", "scipy", "joblib"} <= set(card.libraries)
    assert set(card.thresholds.auto_label) == set(LABELS)
    assert 0 < card.metrics["cross_validation"]["macro_f1"] <= 1


@pytest.mark.parametrize(
    ("severities", "message"),
    [
        ([1, 2, 3, 4, 5] * 5, r"severity must be one of 1, 2, 3, 4; got \[5\]"),
        ([1, 2, 3] * 5 + [4], r"every severity needs at least 3 training examples .* got \{4: 1\}"),
    ],
)
def test_fit_explains_unusable_labels(severities: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SeverityModel.fit([f"text number {i}" for i in range(len(severities))], severities, FAST)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classifier": "forest"}, "classifier must be one of linear_svc, logistic; got 'forest'"),
        ({"c": 0.0}, "c must be greater than 0; got 0.0"),
        ({"cv_folds": 1}, "cv_folds must be at least 2; got 1"),
    ],
)
def test_settings_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelSettings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("classifier", ["linear_svc", "logistic"])
def test_both_classifiers_train_and_round_trip_their_settings(corpus: list[LabelledRequest], classifier: str) -> None:
    chosen = ModelSettings(classifier=classifier, cv_folds=3)
    trained = train(corpus[::6], settings=chosen)
    assert trained.card.settings == chosen == ModelSettings.from_dict(chosen.to_dict())
    assert trained.model.predict(["app down"]).probabilities.shape == (1, 4)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=60))
def test_macro_f1_matches_scikit_learn(pairs: list[tuple[int, int]]) -> None:
    truth = np.asarray([t for t, _ in pairs])
    pred = np.asarray([p for _, p in pairs])
    expected = f1_score(truth, pred, labels=list(LABELS), average="macro", zero_division=0)
    assert macro_f1(truth, pred) == pytest.approx(expected)


def test_the_shipped_model_on_the_held_out_split(corpus: list[LabelledRequest]) -> None:
    """A regression guard: the bundled model must stay clearly better than guessing on unseen requests."""
    from sevtriage.model import store as model_store
    from sevtriage.resources import default_model_path

    shipped = model_store.load(default_model_path())
    heldout = split(corpus, read_heldout_ids(DATA)).heldout
    held_ids = {r.id for r in heldout}
    assert len(held_ids) >= 200
    prediction = shipped.model.predict([model_text(r.subject, r.body) for r in heldout])
    truth = np.asarray([int(r.severity) for r in heldout])
    assert macro_f1(truth, prediction.labels) >= 0.75
    # Severity-1 requests are seldom called low or medium.
    critical = truth == int(Severity.CRITICAL)
    assert np.mean(prediction.labels[critical] >= 3) <= 0.05


def test_grouped_folds_never_validate_on_wording_their_model_saw() -> None:
    # Each writer's batch has its own pet words, and each batch is about one severity: a model validated on rows of
    # a batch it trained on learns the pet words and looks perfect. Grouped by batch, the validation model has
    # never seen a batch's pet words (they are unknown n-grams, as in a new request), and the shared filler says
    # nothing about severity, so out-of-fold accuracy falls to about chance.
    rng = np.random.default_rng(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    filler = [f"common{a}{b}" for a in letters[:6] for b in letters[:5]]
    texts, labels, groups = [], [], []
    for batch in range(24):
        pet = f"zq{letters[batch]}x zw{letters[batch]}y"
        for _ in range(12):
            texts.append(f"{pet} {' '.join(rng.choice(filler, 6))}")
            labels.append(LABELS[batch % 4])
            groups.append(f"part-{batch:02d}")
    settings = ModelSettings(cv_folds=4, min_df=1, tune_bias=False)
    by_rows = SeverityModel.fit(texts, labels, settings).out_of_fold
    by_batch = SeverityModel.fit(texts, labels, settings, groups=groups).out_of_fold
    assert by_rows is not None and by_batch is not None
    assert np.mean(by_rows.predicted == by_rows.y_true) > 0.95
    assert np.mean(by_batch.predicted == by_batch.y_true) < 0.5


def test_groups_must_match_the_texts() -> None:
    with pytest.raises(ValueError, match="groups must have one entry per text; got 1 for 8 texts"):
        SeverityModel.fit(["a b"] * 8, [1, 2, 3, 4] * 2, ModelSettings(cv_folds=2), groups=["x"])
