"""The text model: TF-IDF word and character n-grams into a balanced linear classifier.

Word 1-2 grams and `char_wb` 2-5 grams of the folded request text (`model_text`) feed a class-balanced
linear model: `LinearSVC` by default (about ten times faster to fit than `LogisticRegression` here,
with the same or better macro-F1 on the corpus and on the external eval sets); `LogisticRegression`
is a setting away. Two views of the same linear scores, as the notes in `../shared/eval/README.md` suggest:

* the **label** is the arg-max of the class-balanced scores plus a per-class bias tuned for macro-F1 on
  out-of-fold scores (balancing keeps rare severities such as 1 from being swallowed by the common ones);
* the **probabilities** come from a small multinomial calibrator fitted on out-of-fold scores without
  class weights, so they reflect real frequencies and can drive review routing.

Pure: no file I/O here (`sevtriage.model.store` reads and writes model files). The fitted object holds
only scikit-learn estimators and numpy arrays, so a stored model does not depend on our class layout.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from sevtriage.confidence import RulePrecision
from sevtriage.model.compiled import CompiledModel, Prediction
from sevtriage.model.corpus import LabelledRequest, counts, data_hash, validation_groups
from sevtriage.model.familiarity import FamiliarityCutoffs, FamiliarityIndex, Lexicon, fit_familiarity
from sevtriage.model.features import LETTER_WORDS, SMALL_BATCH, BatchWords, Units
from sevtriage.model.thresholds import Targets, select_thresholds
from sevtriage.text import WORD_RUNS, model_text
from sevtriage.types import LABELS, ModelOpinion, ReviewThresholds

if TYPE_CHECKING:
    # scikit-learn is imported where a model is fitted or unpickled, never to predict (see `compiled`).
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
    from sklearn.pipeline import FeatureUnion
    from sklearn.svm import LinearSVC

CARD_FORMAT = "sevtriage-model-card/1"
CLASSIFIERS = ("linear_svc", "logistic")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Hyper-parameters of the pipeline; stored in the model card."""

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = 2
    max_word_features: int = 60_000
    max_char_features: int = 120_000
    classifier: str = "linear_svc"
    c: float = 0.1
    cv_folds: int = 5
    tune_bias: bool = True
    max_iter: int = 300
    random_state: int = 0

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIERS:
            raise ValueError(f"classifier must be one of {', '.join(CLASSIFIERS)}; got {self.classifier!r}")
        if self.c <= 0:
            raise ValueError(f"c must be greater than 0; got {self.c}")
        if self.cv_folds < 2:
            raise ValueError(f"cv_folds must be at least 2; got {self.cv_folds}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams),
            "min_df": self.min_df,
            "max_word_features": self.max_word_features,
            "max_char_features": self.max_char_features,
            "classifier": self.classifier,
            "c": self.c,
            "cv_folds": self.cv_folds,
            "tune_bias": self.tune_bias,
            "max_iter": self.max_iter,
            "random_state": self.random_state,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSettings:
        return cls(
            word_ngrams=(int(data["word_ngrams"][0]), int(data["word_ngrams"][1])),
            char_ngrams=(int(data["char_ngrams"][0]), int(data["char_ngrams"][1])),
            min_df=int(data["min_df"]),
            max_word_features=int(data["max_word_features"]),
            max_char_features=int(data["max_char_features"]),
            classifier=str(data.get("classifier", "logistic")),
            c=float(data["c"]),
            cv_folds=int(data["cv_folds"]),
            tune_bias=bool(data["tune_bias"]),
            max_iter=int(data["max_iter"]),
            random_state=int(data["random_state"]),
        )


@dataclass(frozen=True, slots=True)
class OutOfFold:
    """Cross-validated view of the training data, used to tune the bias, calibrate and pick thresholds."""

    y_true: IntArray
    scores: FloatArray
    probabilities: FloatArray
    predicted: IntArray


@dataclass(slots=True)
class SeverityModel:
    """A fitted severity model. Build with `fit`; thread-safe to call once fitted (read-only)."""

    vectorizer: FeatureUnion
    classifier: LogisticRegression | LinearSVC
    calibrator: LogisticRegression
    bias: FloatArray
    settings: ModelSettings
    n_word_features: int
    feature_names: npt.NDArray[np.str_]
    training_seconds: float = 0.0
    out_of_fold: OutOfFold | None = field(default=None, repr=False)
    # The same model as arrays, which does the predicting (built on first use; a benign race).
    _compiled: CompiledModel | None = field(default=None, repr=False)

    @property
    def compiled(self) -> CompiledModel:
        """The model as arrays (`sevtriage.model.compiled`): what predicts, here and after loading."""
        if self._compiled is None:
            self._compiled = CompiledModel.from_parts(
                self.vectorizer, self.classifier, self.calibrator, self.bias, self.n_word_features
            )
        return self._compiled

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """TF-IDF features of prepared texts (scikit-learn's result, computed by `FastUnion`)."""
        return self.compiled.transform(texts)

    # -- training ---------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        severities: Sequence[int],
        settings: ModelSettings | None = None,
        groups: Sequence[str] | None = None,
    ) -> SeverityModel:
        """Fit on already-prepared texts (see `model_text`) and severities 1-4.

        `groups` (one per text) keeps each group inside one cross-validation fold: the bias, the
        calibrator and the thresholds are then fitted on predictions for wording the fold never saw.
        Without groups the folds are random rows. Raises ValueError when a class has fewer examples
        than cross-validation folds.
        """
        settings = settings or ModelSettings()
        started = time.perf_counter()
        y = np.asarray([int(s) for s in severities], dtype=np.int64)
        _check_labels(y, settings.cv_folds)
        text_list = list(texts)
        if groups is not None and len(groups) != len(text_list):
            raise ValueError(f"groups must have one entry per text; got {len(groups)} for {len(text_list)} texts")
        vectorizer = _make_vectorizer(settings)
        features = vectorizer.fit_transform(text_list).tocsr()
        _drop_stop_words(vectorizer)

        n_word = len(vectorizer.transformer_list[0][1].vocabulary_)
        oof_scores = _out_of_fold_scores(features, n_word, y, settings, groups)
        bias = _tune_bias(oof_scores, y) if settings.tune_bias else np.zeros(len(LABELS))
        # Unweighted multinomial fit on the scores: undoes the prior shift of class balancing.
        from sklearn.linear_model import LogisticRegression

        calibrator = LogisticRegression(C=100.0, max_iter=1000)
        calibrator.fit(oof_scores, y)
        oof_proba = _aligned_proba(calibrator, oof_scores)
        oof_pred = np.asarray(LABELS, dtype=np.int64)[np.argmax(oof_scores + bias, axis=1)]

        classifier = _make_classifier(settings)
        classifier.fit(features, y)
        names = _feature_names(vectorizer)
        word_names = vectorizer.transformer_list[0][1].get_feature_names_out()
        return cls(
            vectorizer=vectorizer,
            classifier=classifier,
            calibrator=calibrator,
            bias=bias,
            settings=settings,
            n_word_features=len(word_names),
            feature_names=names,
            training_seconds=time.perf_counter() - started,
            out_of_fold=OutOfFold(y, oof_scores, oof_proba, oof_pred),
        )

    # -- inference --------------------------------------------------------------------------------
    def predict(self, texts: Sequence[str]) -> Prediction:
        """Labels (bias-adjusted arg-max) and calibrated probabilities for prepared texts."""
        return self.compiled.predict(texts)

    def opinions(self, texts: Sequence[str], top_k: int = 5) -> list[ModelOpinion]:
        """One `ModelOpinion` per prepared text, with the terms that pushed toward the answer."""
        return self.compiled.opinions(texts, top_k)

    # -- storage (plain parts, see model_store) -------------------------------------------------
    def parts(self) -> dict[str, Any]:
        """The picklable parts: scikit-learn estimators and numpy arrays only."""
        return {
            "vectorizer": self.vectorizer,
            "classifier": self.classifier,
            "calibrator": self.calibrator,
            "bias": self.bias,
            "n_word_features": self.n_word_features,
        }

    @classmethod
    def from_parts(cls, parts: dict[str, Any], settings: ModelSettings) -> SeverityModel:
        return cls(
            vectorizer=parts["vectorizer"],
            classifier=parts["classifier"],
            calibrator=parts["calibrator"],
            bias=np.asarray(parts["bias"], dtype=np.float64),
            settings=settings,
            n_word_features=int(parts["n_word_features"]),
            # Rebuilt from the vocabularies rather than stored: the names would double the file's size.
            feature_names=_feature_names(parts["vectorizer"]),
        )


def _check_labels(y: IntArray, folds: int) -> None:
    unknown = sorted(set(y.tolist()) - set(LABELS))
    if unknown:
        raise ValueError(f"severity must be one of 1, 2, 3, 4; got {unknown}")
    counts = {lab: int(np.sum(y == lab)) for lab in LABELS}
    thin = {lab: n for lab, n in counts.items() if n < folds}
    if thin:
        raise ValueError(
            f"every severity needs at least {folds} training examples (one per cross-validation fold); "
            f"got {thin}. Add labelled examples for those severities."
        )


def _make_vectorizer(settings: ModelSettings) -> FeatureUnion:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    word = TfidfVectorizer(
        analyzer="word",
        ngram_range=settings.word_ngrams,
        min_df=settings.min_df,
        max_features=settings.max_word_features,
        sublinear_tf=True,
        # Letters only (digits carry ids and dates, not severity), at least two of them.
        token_pattern=LETTER_WORDS,
        dtype=np.float32,
    )
    chars = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=settings.char_ngrams,
        min_df=settings.min_df,
        max_features=settings.max_char_features,
        sublinear_tf=True,
        dtype=np.float32,
    )
    return FeatureUnion([("word", word), ("char", chars)])


def _feature_names(vectorizer: FeatureUnion) -> npt.NDArray[np.str_]:
    """Feature names in column order: the word vocabulary, then the character n-grams."""
    return np.concatenate([part.get_feature_names_out() for _, part in vectorizer.transformer_list]).astype(np.str_)


def _drop_stop_words(vectorizer: FeatureUnion) -> None:
    # `stop_words_` keeps every pruned term and is only for introspection; it would bloat the file.
    for _, part in vectorizer.transformer_list:
        if hasattr(part, "stop_words_"):
            part.stop_words_ = None


def _make_classifier(settings: ModelSettings) -> LogisticRegression | LinearSVC:
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if settings.classifier == "linear_svc":
        # Dual coordinate descent visits rows in random order: fix the seed for repeatable models.
        return LinearSVC(
            C=settings.c,
            class_weight="balanced",
            max_iter=settings.max_iter * 10,
            random_state=settings.random_state,
        )
    return LogisticRegression(
        C=settings.c,
        class_weight="balanced",
        max_iter=settings.max_iter,
        random_state=settings.random_state,
    )


def _out_of_fold_scores(
    features: sparse.csr_matrix, n_word: int, y: IntArray, settings: ModelSettings, groups: Sequence[str] | None
) -> FloatArray:
    """Scores of each request from a model fitted without its fold, as if its fold's wording were new.

    Each fold sees only the n-grams its training rows have (at least `min_df` times), and every row's
    word and character parts are re-normalised over those, as a refitted vectorizer would do for a new
    request: a shared vocabulary would keep n-grams the fold never saw in the norm, shrinking the
    validation scores of unfamiliar texts but not their scores in service. (IDF weights stay those of
    all training rows; refitting the vectorizer per fold gave nearly the same thresholds, 0.69/0.76/0.86/
    0.50 against 0.68/0.75/0.86/0.50 on the corpus, at 2.5 times the training time. On the corpus the
    masking itself moves held-out numbers by a few tenths of a point only.)
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    splitter: StratifiedGroupKFold | StratifiedKFold
    if groups is not None:
        splitter = StratifiedGroupKFold(n_splits=settings.cv_folds, shuffle=True, random_state=settings.random_state)
        folds = list(splitter.split(np.zeros(len(y)), y, np.asarray(groups)))
    else:
        splitter = StratifiedKFold(n_splits=settings.cv_folds, shuffle=True, random_state=settings.random_state)
        folds = list(splitter.split(np.zeros(len(y)), y))
    scores = np.zeros((len(y), len(LABELS)), dtype=np.float64)
    for train_index, test_index in folds:
        missing = sorted(set(LABELS) - set(y[train_index].tolist()))
        if missing:
            raise ValueError(
                f"a cross-validation fold has no training example of severity {missing}; every severity needs "
                "examples in more than one group (source file or block). Add labelled examples for it"
            )
        train_part = features[train_index]
        known = np.asarray((train_part != 0).sum(axis=0)).ravel() >= settings.min_df
        model = _make_classifier(settings)
        model.fit(_restrict(train_part, known, n_word), y[train_index])
        scores[test_index] = model.decision_function(_restrict(features[test_index], known, n_word))
    return scores


def _restrict(rows: sparse.csr_matrix, known: npt.NDArray[np.bool_], n_word: int) -> sparse.csr_matrix:
    """Rows with only the `known` columns, each part (words, characters) l2-normalised again."""
    kept = sparse.csr_matrix(rows.multiply(known[None, :].astype(rows.dtype)))
    kept.eliminate_zeros()
    squares = kept.multiply(kept)
    word_norm = np.sqrt(np.asarray(squares[:, :n_word].sum(axis=1)).ravel())
    char_norm = np.sqrt(np.asarray(squares[:, n_word:].sum(axis=1)).ravel())
    coo = kept.tocoo()
    norms = np.where(coo.col < n_word, word_norm[coo.row], char_norm[coo.row])
    data = coo.data / np.where(norms > 0, norms, 1.0)
    return sparse.csr_matrix((data.astype(rows.dtype), (coo.row, coo.col)), shape=rows.shape)


def _aligned_proba(calibrator: LogisticRegression, scores: FloatArray) -> FloatArray:
    raw = np.asarray(calibrator.predict_proba(scores), dtype=np.float64)
    out = np.zeros((raw.shape[0], len(LABELS)), dtype=np.float64)
    for column, label in enumerate(calibrator.classes_):
        out[:, LABELS.index(int(label))] = raw[:, column]
    return out


def macro_f1(y_true: IntArray, y_pred: IntArray) -> float:
    """Macro-averaged F1 over the four severities (a class absent from both counts as 0)."""
    f1s = []
    for label in LABELS:
        tp = float(np.sum((y_pred == label) & (y_true == label)))
        fp = float(np.sum((y_pred == label) & (y_true != label)))
        fn = float(np.sum((y_pred != label) & (y_true == label)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f1s))


def _tune_bias(scores: FloatArray, y: IntArray, rounds: int = 2) -> FloatArray:
    """Per-class offsets added to the scores that maximise out-of-fold macro-F1 (coordinate ascent)."""
    labels = np.asarray(LABELS, dtype=np.int64)
    bias = np.zeros(len(LABELS), dtype=np.float64)
    spread = float(np.std(scores)) or 1.0
    # Offsets nearest zero first, so that ties keep the smallest change.
    grid = sorted(np.linspace(-1.0, 1.0, 41) * spread, key=abs)
    best = macro_f1(y, labels[np.argmax(scores + bias, axis=1)])
    for _ in range(rounds):
        for column in range(len(LABELS)):
            keep = bias[column]
            for offset in grid:
                bias[column] = offset
                value = macro_f1(y, labels[np.argmax(scores + bias, axis=1)])
                if value > best + 1e-9:
                    best, keep = value, offset
            bias[column] = keep
    return bias


# -- the model card and training ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrainingData:
    """Where a model's training rows came from."""

    sources: tuple[str, ...]
    rows: int
    sha256: str
    counts: dict[str, dict[str, int]]

    def to_dict(self) -> dict[str, Any]:
        return {"sources": list(self.sources), "rows": self.rows, "sha256": self.sha256, "counts": self.counts}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingData:
        return cls(
            sources=tuple(str(s) for s in data["sources"]),
            rows=int(data["rows"]),
            sha256=str(data["sha256"]),
            counts={str(k): {str(a): int(b) for a, b in v.items()} for k, v in data["counts"].items()},
        )


@dataclass(slots=True)
class ModelCard:
    """Metadata stored next to a model file (JSON): what it is, how it was made, how well it does."""

    model_version: str
    created_at: str
    sevtriage_version: str
    libraries: dict[str, str]
    labels: tuple[int, ...]
    settings: ModelSettings
    targets: Targets
    thresholds: ReviewThresholds
    training_data: TrainingData
    training_seconds: float
    # Display-only numbers (cross-validation, held-out evaluation); nothing in the core reads them.
    metrics: dict[str, Any] = field(default_factory=dict)
    format: str = CARD_FORMAT
    # How the out-of-fold predictions were made (grouping) and the evidence behind each threshold; display only.
    validation: dict[str, Any] = field(default_factory=dict)
    # Per-rule precision measured on the training data, for the rules' `confidence` (None: not measured).
    rule_precision: RulePrecision | None = None
    # Below these a request is `unfamiliar` (None: a model trained before the familiarity check).
    familiarity: FamiliarityCutoffs | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "model_version": self.model_version,
            "created_at": self.created_at,
            "sevtriage_version": self.sevtriage_version,
            "libraries": dict(self.libraries),
            "labels": list(self.labels),
            "settings": self.settings.to_dict(),
            "targets": self.targets.to_dict(),
            "thresholds": self.thresholds.to_dict(),
            "training_data": self.training_data.to_dict(),
            "training_seconds": round(self.training_seconds, 3),
            "validation": self.validation,
            "rule_precision": self.rule_precision.to_dict() if self.rule_precision is not None else None,
            "metrics": self.metrics,
            "familiarity": self.familiarity.to_dict() if self.familiarity is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Raises KeyError / ValueError / TypeError on a malformed card (the store turns it into a message)."""
        return cls(
            format=str(data["format"]),
            model_version=str(data["model_version"]),
            created_at=str(data["created_at"]),
            sevtriage_version=str(data["sevtriage_version"]),
            libraries={str(k): str(v) for k, v in data["libraries"].items()},
            labels=tuple(int(x) for x in data["labels"]),
            settings=ModelSettings.from_dict(data["settings"]),
            targets=Targets.from_dict(data["targets"]),
            thresholds=ReviewThresholds.from_dict(data["thresholds"]),
            training_data=TrainingData.from_dict(data["training_data"]),
            training_seconds=float(data["training_seconds"]),
            metrics=dict(data.get("metrics") or {}),
            validation=dict(data.get("validation") or {}),
            rule_precision=RulePrecision.from_dict(data["rule_precision"]) if data.get("rule_precision") else None,
            familiarity=FamiliarityCutoffs.from_dict(data["familiarity"]) if data.get("familiarity") else None,
        )


@dataclass(slots=True)
class TrainedModel:
    """A fitted model with its card: what `sevtriage train` produces and `Triage` consumes.

    Loaded from a file, it may hold only the arrays that predict (`compiled`); the scikit-learn model
    (`model`, for training-time views such as the out-of-fold scores) is then unpickled on first use.
    """

    _model: SeverityModel | None
    card: ModelCard
    _compiled: CompiledModel | None = None
    _load_model: Callable[[], SeverityModel] | None = None
    # How far requests are from the training data (None for a model stored without it).
    familiarity: FamiliarityIndex | None = None

    @property
    def model(self) -> SeverityModel:
        if self._model is None:
            assert self._load_model is not None, "a TrainedModel needs a model or a way to load it"
            self._model = self._load_model()
        return self._model

    @property
    def compiled(self) -> CompiledModel:
        if self._compiled is None:
            self._compiled = self.model.compiled
        return self._compiled

    @property
    def version(self) -> str:
        return self.card.model_version

    @property
    def thresholds(self) -> ReviewThresholds:
        return self.card.thresholds

    def opinions(self, texts: Sequence[str], top_k: int = 5, *, familiarity: bool = True) -> list[ModelOpinion]:
        """The model's opinions on prepared texts, each with its `familiarity` (unless switched off)."""
        if not familiarity or self.familiarity is None or not texts:
            return self.compiled.opinions(texts, top_k)
        # One split on white space serves the character n-grams and the known n-gram share; the `\w+` runs of its
        # distinct pieces serve the word n-grams, the lexicon and the known words. Both are numbered once for the
        # batch, so every consumer looks a distinct word up once (`BatchWords`); a small batch is read text by text.
        pieces: Units
        tokens: Units
        if len(texts) >= SMALL_BATCH:
            pieces = BatchWords.of([t.split() for t in texts])
            tokens = pieces.within(WORD_RUNS.findall)
        else:
            pieces = [t.split() for t in texts]
            tokens = [WORD_RUNS.findall(t) for t in texts]
        features = self.compiled.transform(texts, tokens, pieces)
        opinions = self.compiled.opinions(texts, top_k, features=features)
        measured = self.familiarity.assess(texts, features, tokens, pieces)
        # Built directly: `dataclasses.replace` costs about twice the constructor.
        return [
            ModelOpinion(o.severity, o.probabilities, o.top_terms, f) for o, f in zip(opinions, measured, strict=True)
        ]


def library_versions() -> dict[str, str]:
    """Versions that decide whether a stored model can be loaded again."""
    import joblib
    import scipy
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def train(
    records: Sequence[LabelledRequest],
    *,
    sources: Sequence[str] = (),
    settings: ModelSettings | None = None,
    targets: Targets | None = None,
    now: datetime | None = None,
    rule_precision: RulePrecision | None = None,
    lexicon: Lexicon | None = None,
) -> TrainedModel:
    """Fit the model on labelled requests and choose its review thresholds on out-of-fold predictions.

    The folds are grouped by source file (a corpus part: one writer's batch), or by contiguous blocks of
    rows when the data has too few files (`validation_groups`). `rule_precision` (measured by the caller,
    which knows the rules) is stored in the card for the rules' confidence.
    """
    from sevtriage import __version__

    settings = settings or ModelSettings()
    targets = targets or Targets()
    texts = [model_text(r.subject, r.body) for r in records]
    grouping = validation_groups(records, settings.cv_folds)
    model = SeverityModel.fit(texts, [int(r.severity) for r in records], settings, groups=grouping.groups)
    oof = model.out_of_fold
    assert oof is not None  # set by fit
    choice = select_thresholds(oof.y_true, oof.predicted, oof.probabilities, targets)
    # Rules decisions below the precision target need the model's backing (see `combiner`).
    thresholds = replace(choice.thresholds, rules_min_confidence=targets.auto_precision)
    familiarity = fit_familiarity(
        model.vectorizer,
        texts,
        model.transform(texts),
        groups=grouping.groups,
        grouping=grouping.description,
        out_of_fold=(oof.y_true, oof.predicted, oof.probabilities),
        auto_label=thresholds.auto_label,
        target_precision=targets.auto_precision,
        min_df=settings.min_df,
        folds=settings.cv_folds,
        seed=settings.random_state,
        lexicon=lexicon or Lexicon.load(),
    )
    digest = data_hash(records)
    created = (now or datetime.now(UTC)).replace(microsecond=0)
    card = ModelCard(
        model_version=f"{created:%Y%m%d}-{digest[:8]}",
        created_at=created.isoformat(),
        sevtriage_version=__version__,
        libraries=library_versions(),
        labels=LABELS,
        settings=settings,
        targets=targets,
        thresholds=thresholds,
        training_data=TrainingData(tuple(sources), len(records), digest, counts(records)),
        training_seconds=model.training_seconds,
        validation={
            "grouping": grouping.method,
            "description": grouping.description,
            "groups": grouping.count,
            "folds": settings.cv_folds,
            "thresholds": (
                f"per class, the lowest threshold whose auto-labelled out-of-fold decisions have a one-sided "
                f"{100 * targets.confidence_level:g}% Clopper-Pearson lower bound of precision >= "
                f"{100 * targets.auto_precision:g}%, by fixed-sequence testing (Learn then Test, Angelopoulos "
                "et al. 2021)"
            ),
            "evidence": {str(e.severity): e.to_dict() for e in choice.evidence},
        },
        rule_precision=rule_precision,
        familiarity=familiarity.cutoffs,
        metrics={
            "cross_validation": {
                "macro_f1": round(macro_f1(oof.y_true, oof.predicted), 4),
                "accuracy": round(float(np.mean(oof.y_true == oof.predicted)), 4),
            }
        },
    )
    return TrainedModel(model, card, familiarity=familiarity)
