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

from scipy import sparse

from sevtriage.errors import ConfigError, Problem
from sevtriage.model.compiled import CompiledModel
from sevtriage.model.familiarity import FamiliarityIndex, Lexicon
from sevtriage.model.text_model import CARD_FORMAT, ModelCard, SeverityModel, TrainedModel
from sevtriage.types import LABELS

PARTS_FORMAT = "sevtriage-model-parts/1"
CARD_SUFFIX = ".card.json"
ARRAYS_SUFFIX = ".arrays.npz"


def card_path(model_path: str | Path) -> Path:
    """Where the card of a model file lives: `name.joblib` -> `name.card.json`."""
    path = Path(model_path)
    return path.with_name(path.stem + CARD_SUFFIX)


def arrays_path(model_path: str | Path) -> Path:
    """Where the prediction arrays of a model file live: `name.joblib` -> `name.arrays.npz`."""
    path = Path(model_path)
    return path.with_name(path.stem + ARRAYS_SUFFIX)


def retrain_command(model_path: str | Path) -> str:
    """The one command that rebuilds a model file from the bundled corpus."""
    return f"sevtriage train data/ -o {model_path}"


def save(trained: TrainedModel, path: str | Path) -> Path:
    """Write the model file and its card; returns the card's path."""
    import joblib

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump({"format": PARTS_FORMAT, "parts": trained.model.parts()}, path, compress=3)
    arrays = arrays_path(path)
    trained.model.compiled.save(arrays)
    card = trained.card.to_dict()
    card["file"] = {"name": path.name, "sha256": _sha256(path), "bytes": path.stat().st_size}
    card["arrays_file"] = {"name": arrays.name, "sha256": _sha256(arrays), "bytes": arrays.stat().st_size}
    if trained.familiarity is not None:
        # The training vectors (cut to their heaviest terms) that the nearest-request similarity reads.
        reference = familiarity_path(path)
        with reference.open("wb") as handle:
            sparse.save_npz(handle, trained.familiarity.reference_t, compressed=True)
        card["familiarity_file"] = {
            "name": reference.name,
            "sha256": _sha256(reference),
            "bytes": reference.stat().st_size,
        }
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
    installed = installed_version("scikit-learn")
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


def familiarity_path(model_path: str | Path) -> Path:
    """Where the familiarity check's training vectors live: `name.joblib` -> `name.familiarity.npz`."""
    path = Path(model_path)
    return path.with_name(path.stem + ".familiarity.npz")


def _familiarity(
    trained: TrainedModel, raw: dict[str, Any], model_path: Path, lexicon: str | Path | None, fix: str
) -> TrainedModel:
    """Attach the familiarity index when the card has cut-offs and its vectors file is there and matches."""
    card = trained.card
    listed = raw.get("familiarity_file") or {}
    reference = familiarity_path(model_path)
    if card.familiarity is None or listed.get("name") != reference.name or not reference.is_file():
        return trained
    if listed.get("sha256") != _sha256(reference):
        raise ConfigError(Problem(str(reference), None, f"the file does not match its card (SHA-256 differs); {fix}"))
    try:
        reference_t = sparse.csr_matrix(sparse.load_npz(reference))
    except (OSError, ValueError, KeyError) as error:
        raise ConfigError(Problem(str(reference), None, f"cannot be loaded ({error}); {fix}")) from None
    specs = trained.compiled.specs
    index = FamiliarityIndex.from_terms(
        [str(t) for t in specs[0].terms],
        [str(t) for t in specs[1].terms],
        (int(specs[1].ngram_range[0]), int(specs[1].ngram_range[1])),
        reference_t,
        card.familiarity,
        Lexicon.load(lexicon),
    )
    trained.familiarity = index
    return trained


def load(path: str | Path, lexicon: str | Path | None = None) -> TrainedModel:
    """Load a model file and its card; `ConfigError` with the fix when it is missing or does not fit.

    `lexicon` is the product-area and symptom list for the `too_vague` check (default: the bundled one).
    """
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

    def unpickle() -> SeverityModel:
        import joblib

        try:
            stored = joblib.load(model_path)
        except Exception as error:  # a damaged pickle can raise almost anything
            raise ConfigError(Problem(str(model_path), None, f"cannot be loaded ({error}); {fix}")) from None
        if not isinstance(stored, dict) or stored.get("format") != PARTS_FORMAT:
            raise ConfigError(Problem(str(model_path), None, f"is not a sevtriage model file ({PARTS_FORMAT}); {fix}"))
        return SeverityModel.from_parts(stored["parts"], card.settings)

    # The arrays that predict, written with the model (no pickle, no scikit-learn import); when they are missing
    # (a model file from before they existed) the joblib file is unpickled at once and predicts the same.
    arrays = arrays_path(model_path)
    listed = raw.get("arrays_file") or {}
    if listed.get("name") == arrays.name and arrays.is_file():
        if listed.get("sha256") != _sha256(arrays):
            raise ConfigError(Problem(str(arrays), None, f"the file does not match its card (SHA-256 differs); {fix}"))
        try:
            compiled = CompiledModel.load(arrays)
        except (OSError, ValueError, KeyError) as error:
            raise ConfigError(Problem(str(arrays), None, f"cannot be loaded ({error}); {fix}")) from None
        return _familiarity(TrainedModel(None, card, compiled, unpickle), raw, model_path, lexicon, fix)
    return _familiarity(TrainedModel(unpickle(), card), raw, model_path, lexicon, fix)


def installed_version(distribution: str) -> str:
    """The installed version of a package, read from its metadata (importing scikit-learn takes a second)."""
    from importlib.metadata import version

    return version(distribution)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
