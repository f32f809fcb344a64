"""Model files: saved with a card, refused with the fix when they do not fit."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import sklearn

from sevtriage.errors import ConfigError
from sevtriage.model import store as model_store
from sevtriage.model.corpus import read_labelled
from sevtriage.model.text_model import ModelSettings, TrainedModel, train
from sevtriage.resources import default_model_path

DATA = Path(__file__).resolve().parents[2] / "data"
TEXTS = ["nikto sa nevie prihlasit", "how do i add a supervisor", "export do pohody pada"]


@pytest.fixture(scope="module")
def trained() -> TrainedModel:
    records = read_labelled(DATA)[::5]
    return train(records, settings=ModelSettings(cv_folds=3), now=datetime(2026, 1, 2, tzinfo=UTC))


@pytest.fixture
def saved(trained: TrainedModel, tmp_path: Path) -> Path:
    path = tmp_path / "m.joblib"
    model_store.save(trained, path)
    return path


def edit_card(path: Path, **changes: object) -> None:
    card_file = model_store.card_path(path)
    card = json.loads(card_file.read_text(encoding="utf-8"))
    card.update(changes)
    card_file.write_text(json.dumps(card), encoding="utf-8")


def test_round_trip_keeps_predictions_and_card(trained: TrainedModel, saved: Path) -> None:
    loaded = model_store.load(saved)
    before, after = trained.model.predict(TEXTS), loaded.model.predict(TEXTS)
    assert np.array_equal(before.labels, after.labels)
    assert np.allclose(before.probabilities, after.probabilities)
    assert loaded.card.to_dict() == trained.card.to_dict()
    assert [o.top_terms for o in loaded.opinions(TEXTS)] == [o.top_terms for o in trained.opinions(TEXTS)]


def test_card_is_readable_json_next_to_the_model(saved: Path) -> None:
    card = json.loads((saved.parent / "m.card.json").read_text(encoding="utf-8"))
    assert card["format"] == "sevtriage-model-card/1"
    assert card["labels"] == [1, 2, 3, 4]
    assert card["libraries"]["scikit-learn"] == sklearn.__version__
    assert len(card["training_data"]["sha256"]) == 64
    assert card["file"]["name"] == "m.joblib" and card["file"]["bytes"] == saved.stat().st_size
    assert set(card["thresholds"]) == {"auto_label", "critical_alert", "rules_min_confidence"}
    # Which grouping the folds used and the evidence behind each threshold.
    assert card["validation"]["grouping"] in {"file", "blocks"} and card["validation"]["description"]
    assert set(card["validation"]["evidence"]) == {"1", "2", "3", "4"}


def test_missing_model_file_says_how_to_train(tmp_path: Path) -> None:
    missing = tmp_path / "none.joblib"
    with pytest.raises(ConfigError) as caught:
        model_store.load(missing)
    assert str(caught.value) == f"{missing}: model file not found; train one with: sevtriage train data/ -o {missing}"


def test_missing_card_is_refused(saved: Path) -> None:
    model_store.card_path(saved).unlink()
    with pytest.raises(ConfigError, match=r"m\.card\.json: the model card is missing next to m\.joblib; retrain with"):
        model_store.load(saved)


def test_other_scikit_learn_version_is_refused_with_the_retrain_command(saved: Path) -> None:
    card = json.loads(model_store.card_path(saved).read_text(encoding="utf-8"))
    card["libraries"]["scikit-learn"] = "0.24.2"
    edit_card(saved, libraries=card["libraries"])
    with pytest.raises(ConfigError) as caught:
        model_store.load(saved)
    assert str(caught.value) == (
        f"{model_store.card_path(saved)}: the model was trained with scikit-learn 0.24.2 but {sklearn.__version__} "
        f"is installed; a model file only loads with the scikit-learn version that wrote it; retrain it with: "
        f"sevtriage train data/ -o {saved}"
    )


def test_other_label_set_is_refused(saved: Path) -> None:
    edit_card(saved, labels=[1, 2, 3])
    with pytest.raises(ConfigError, match=r"label set is \[1, 2, 3\] but this sevtriage uses \[1, 2, 3, 4\]"):
        model_store.load(saved)


def test_model_file_that_does_not_match_its_card_is_refused(saved: Path) -> None:
    saved.write_bytes(saved.read_bytes() + b"\0")
    with pytest.raises(ConfigError, match=r"does not match its card m\.card\.json \(SHA-256 differs\)"):
        model_store.load(saved)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"m\.card\.json:1: is not valid JSON"),
        ("[]", r"must hold a JSON object"),
        ('{"format": "other/9"}', r"card format must be 'sevtriage-model-card/1'; got 'other/9'"),
        ('{"format": "sevtriage-model-card/1"}', r"the card lacks the field 'model_version'"),
    ],
)
def test_malformed_cards_are_refused(saved: Path, content: str, message: str) -> None:
    model_store.card_path(saved).write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        model_store.load(saved)


def test_the_bundled_model_loads(tmp_path: Path) -> None:
    shipped = model_store.load(default_model_path())
    assert shipped.card.libraries["scikit-learn"] == sklearn.__version__
    assert default_model_path().stat().st_size < 5_000_000
    # It loads from a copy in another folder too (nothing depends on the checkout).
    copy = tmp_path / "copy.joblib"
    shutil.copy(default_model_path(), copy)
    shutil.copy(model_store.card_path(default_model_path()), model_store.card_path(copy))
    assert model_store.load(copy).version == shipped.version


def test_the_arrays_file_is_checked_against_the_card(saved: Path) -> None:
    arrays = model_store.arrays_path(saved)
    assert arrays.is_file()
    assert model_store.load(saved)._model is None  # predicts from the arrays; the pickle waits until needed
    arrays.write_bytes(arrays.read_bytes()[:-10])
    with pytest.raises(ConfigError, match=r"m\.arrays\.npz: the file does not match its card"):
        model_store.load(saved)


def test_a_model_file_without_arrays_still_loads_and_predicts_the_same(trained: TrainedModel, saved: Path) -> None:
    model_store.arrays_path(saved).unlink()
    loaded = model_store.load(saved)
    assert loaded._model is not None
    assert [o.top_terms for o in loaded.opinions(TEXTS)] == [o.top_terms for o in trained.opinions(TEXTS)]
