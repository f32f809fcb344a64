"""The model as arrays predicts what scikit-learn predicts, and a command that classifies never imports it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from sevtriage.model import store as model_store
from sevtriage.model.compiled import CompiledModel
from sevtriage.model.corpus import read_labelled
from sevtriage.model.text_model import model_text
from sevtriage.resources import default_model_path
from sevtriage.types import LABELS

DATA = Path(__file__).resolve().parents[2] / "data"
TEXTS = [model_text(r.subject, r.body) for r in read_labelled(DATA)[::4]] + ["", "zz", "ok ok ok"]


def test_scores_labels_and_probabilities_are_scikit_learns() -> None:
    loaded = model_store.load(default_model_path())
    model = loaded.model  # the unpickled scikit-learn parts
    compiled = loaded.compiled
    assert loaded._model is not None
    features = model.vectorizer.transform(TEXTS)
    scores = model.classifier.decision_function(features)
    expected_labels = np.asarray(LABELS)[np.argmax(scores + model.bias, axis=1)]
    raw = model.calibrator.predict_proba(scores)
    expected = np.zeros_like(raw)
    for column, label in enumerate(model.calibrator.classes_):
        expected[:, LABELS.index(int(label))] = raw[:, column]
    got = compiled.predict(TEXTS)
    assert np.array_equal(got.labels, expected_labels)
    # The features agree to float32 rounding (`test_features.py`), which is all that separates the two.
    np.testing.assert_allclose(got.probabilities, expected, rtol=1e-5, atol=1e-7)
    # On the very same features, the arithmetic after them is scikit-learn's to the last few bits.
    same = compiled.transform(TEXTS)
    raw = model.calibrator.predict_proba(model.classifier.decision_function(same))
    for column, label in enumerate(model.calibrator.classes_):
        expected[:, LABELS.index(int(label))] = raw[:, column]
    np.testing.assert_allclose(compiled.predict_features(same).probabilities, expected, rtol=1e-12, atol=1e-15)


def test_the_stored_arrays_are_the_models_and_round_trip(tmp_path: Path) -> None:
    loaded = model_store.load(default_model_path())
    from_file = loaded.compiled
    from_model = loaded.model.compiled
    path = tmp_path / "again.arrays.npz"
    from_model.save(path)
    again = CompiledModel.load(path)
    for model in (from_file, again):
        got, want = model.opinions(TEXTS), from_model.opinions(TEXTS)
        assert [o.severity for o in got] == [o.severity for o in want]
        assert [o.top_terms for o in got] == [o.top_terms for o in want]
        for a, b in zip(got, want, strict=True):
            assert a.probabilities == b.probabilities


def test_classifying_imports_neither_scikit_learn_nor_joblib() -> None:
    code = (
        "import sys; from sevtriage.cli import main; "
        "main(['classify', '--text', 'Nikto sa nevie prihlasit', '--json']); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'joblib'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert '"severity": 1' in result.stdout
    assert result.stdout.rstrip().endswith("[]")
