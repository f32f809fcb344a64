"""The only module that reads and writes model files: a joblib file and its JSON card side by side.

`models/severity-model.joblib` holds the fitted scikit-learn parts; `models/severity-model.card.json`
holds the card (library versions, label set, training data hash, thresholds, metrics, date) and the
SHA-256 of the joblib file. A file written by another scikit-learn version or for another label set
is refused with a message that says how to retrain, because unpickling estimators across versions
can silently change predictions (scikit-learn itself only warns).

A joblib file is a pickle: load only model files you (or your team) made.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sevtriage.errors import ConfigError, Problem
from sevtriage.model.familiarity import FamiliarityIndex, Lexicon
from sevtriage.model.text_model import CARD_FORMAT, ModelCard, SeverityModel, TrainedModel, library_versions
from sevtriage.types import LABELS

PARTS_FORMAT = "sevtriage-model-parts/1"
CARD_SUFFIX = ".card.json"


def card_path(model_path: str | Path) -> Path:
    """Where the card of a model file lives: `name.joblib` -> `name.card.json`."""
    path = Path(model_path)
    return path.with_name(path.stem + CARD_SUFFIX)


def retrain_command(model_path: str | Path) -> str:
    """The one command that rebuilds a model file from the bundled corpus."""
    return f"sevtriage train data/ -o {model_path}"


def save(trained: TrainedModel, path: str | Path) -> Path:
    """Write the model file and its card; returns the card's path."""
    import joblib

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = trained.model.parts()
    if trained.familiarity is not None:
        # The training vectors (cut to their heaviest terms) that the nearest-request similarity reads.
        parts["familiarity_reference"] = trained.familiarity.reference_t
    joblib.dump({"format": PARTS_FORMAT, "parts": parts}, path, compress=3)
    card = trained.card.to_dict()
    card["file"] = {"name": path.name, "sha256": _sha256(path), "bytes": path.stat().st_size}
    target = card_path(path)
    target.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def read_card(path: str | Path) -> tuple[ModelCard, dict[str, Any]]:
    """The card of a model file, parsed, and its raw JSON (for the file hash and display)."""
    model_path = Path(path)
    target = card_path(model_path)
    fix = f"retrain with: {retrain_command(model_path)}"
    if not target.exists():
        raise ConfigError(Problem(str(target), None, f"the model card is missing next to {model_path.name}; {fix}"))
    try:
        raw = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(Problem(str(target), None, f"cannot be read ({error}); {fix}")) from None
    except json.JSONDecodeError as error:
        raise ConfigError(Problem(str(target), error.lineno, f"is not valid JSON ({error.msg}); {fix}")) from None
    if not isinstance(raw, dict):
        raise ConfigError(Problem(str(target), None, f"must hold a JSON object; {fix}"))
    if raw.get("format") != CARD_FORMAT:
        raise ConfigError(
            Problem(str(target), None, f"card format must be {CARD_FORMAT!r}; got {raw.get('format')!r}; {fix}")
        )
    try:
        card = ModelCard.from_dict(raw)
    except KeyError as error:
        raise ConfigError(Problem(str(target), None, f"the card lacks the field {error}; {fix}")) from None
    except (TypeError, ValueError, AttributeError) as error:
        raise ConfigError(Problem(str(target), None, f"the card has a malformed field ({error}); {fix}")) from None
    return card, raw


def check_compatible(card: ModelCard, model_path: str | Path) -> None:
    """Refuse a model made with another scikit-learn version or for another label set."""
    where = str(card_path(model_path))
    fix = f"retrain it with: {retrain_command(model_path)}"
    installed = library_versions()["scikit-learn"]
    made_with = card.libraries.get("scikit-learn")
    if made_with != installed:
        raise ConfigError(
            Problem(
                where,
                None,
                f"the model was trained with scikit-learn {made_with} but {installed} is installed; a model file "
                f"only loads with the scikit-learn version that wrote it; {fix}",
            )
        )
    if tuple(card.labels) != LABELS:
        raise ConfigError(
            Problem(
                where,
                None,
                f"the model's label set is {list(card.labels)} but this sevtriage uses {list(LABELS)}; {fix}",
            )
        )


def load(path: str | Path, lexicon: str | Path | None = None) -> TrainedModel:
    """Load a model file and its card; `ConfigError` with the fix when it is missing or does not fit.

    `lexicon` is the product-area and symptom list for the `too_vague` check (default: the bundled one).
    """
    import joblib

    model_path = Path(path)
    if not model_path.is_file():
        raise ConfigError(
            Problem(str(model_path), None, f"model file not found; train one with: {retrain_command(model_path)}")
        )
    card, raw = read_card(model_path)
    check_compatible(card, model_path)
    fix = f"retrain with: {retrain_command(model_path)}"
    expected = (raw.get("file") or {}).get("sha256")
    if expected != _sha256(model_path):
        raise ConfigError(
            Problem(
                str(model_path),
                None,
                f"the file does not match its card {card_path(model_path).name} (SHA-256 differs): they come from "
                f"different trainings; {fix}",
            )
        )
    try:
        stored = joblib.load(model_path)
    except Exception as error:  # a damaged pickle can raise almost anything
        raise ConfigError(Problem(str(model_path), None, f"cannot be loaded ({error}); {fix}")) from None
    if not isinstance(stored, dict) or stored.get("format") != PARTS_FORMAT:
        raise ConfigError(Problem(str(model_path), None, f"is not a sevtriage model file ({PARTS_FORMAT}); {fix}"))
    parts = stored["parts"]
    model = SeverityModel.from_parts(parts, card.settings)
    familiarity = None
    if card.familiarity is not None and "familiarity_reference" in parts:
        familiarity = FamiliarityIndex.from_vectorizers(
            model.vectorizer, parts["familiarity_reference"], card.familiarity, Lexicon.load(lexicon)
        )
    return TrainedModel(model, card, familiarity)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
