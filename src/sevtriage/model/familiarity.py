"""How far a request is from what the model knows, and whether it names anything to decide on.

A calibrated probability is only as good as the resemblance between a request and the training data: on
"hi, something is off with the app since yesterday, can you check?" the model was 100% sure of severity 4,
because short polite texts in the corpus were questions. Three measures say when its answer is a guess:

* **known words / known character n-grams**: the share of the request's distinct content words (4+ letters,
  which leaves out most function words in English, Slovak and Czech) and distinct `char_wb` n-grams that are
  in the model's vocabulary;
* **nearest**: the cosine similarity of the request's TF-IDF vector to the most similar training request
  (a sparse product against the stored training vectors, each cut to its heaviest terms);
* **facts**: the product areas and symptoms of `rules/lexicon.yaml` that the folded text names.

`unfamiliar` is raised when a measure falls below its cut-off; the cut-offs are quantiles of the same
measures taken out of fold on the training data (each request measured against the other folds' vocabulary
and requests, folds split by source file when there are enough files), so a request is unfamiliar when it is
further from the training data than nearly every training request is from the rest (see `calibrate`).
`too_vague` is raised when the text names no product area and no symptom.

Pure apart from `Lexicon.load`, which reads the lexicon file (like the rule stage reads its rules).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from sevtriage.errors import ConfigError, Problem
from sevtriage.model.features import SMALL_BATCH, BatchWords, Units, batch_words
from sevtriage.model.word_cache import WordCache
from sevtriage.text import WORD_RUNS
from sevtriage.types import REVIEW_TOO_VAGUE, REVIEW_UNFAMILIAR, Familiarity

if TYPE_CHECKING:
    # scikit-learn is imported only to train: a loaded model predicts and measures from arrays.
    from sklearn.pipeline import FeatureUnion

try:
    # scipy's own sparse product routine (what `csr_matrix @ csr_matrix` calls); private, hence the fallback.
    from scipy.sparse._sparsetools import csr_matmat as _csr_matmat
except ImportError:  # pragma: no cover - another scipy layout: the public product is used
    _csr_matmat = None

FloatArray = npt.NDArray[np.float64]

LEXICON_FORMAT = 1
LANGUAGES = ("en", "sk", "cs")
# Content words: at least four letters. A proxy for "not a function word" that needs no stop list per language.
CONTENT_WORD = re.compile(r"(?u)\b[^\W\d_]{4,}\b")
# The same, for one `\w+` token as a whole.
_CONTENT_TOKEN = re.compile(r"[^\W\d_]{4,}")
# Terms kept per stored training vector: the heaviest ones carry the similarity; the rest mostly add
# common character n-grams that every request shares, and would make the file and the product large.
REFERENCE_TERMS = 64
# Distinct words remembered for the character n-gram counts; cleared when full.
CACHE_LIMIT = 200_000


# -- the lexicon -------------------------------------------------------------------------------------


_TOKEN = WORD_RUNS
CRITICAL = "critical"
# Distinct words remembered with their candidate phrases; cleared when full.
WORD_CACHE_LIMIT = 100_000

Step = tuple[str, bool]  # a phrase word and whether it is a stem ("dovolenk*")
Phrase = tuple[str, tuple[Step, ...]]  # the entry it belongs to, the words after the first


class Lexicon:
    """Product areas, symptoms and critical wording, found word by word in folded text.

    Phrases are indexed by their first word (or its stem), so a text is read once, whatever the size of the
    lexicon; a long alternation of regular expressions took about 3 ms per request.
    """

    def __init__(self, entries: Mapping[str, Sequence[str]], version: str) -> None:
        self.version = version
        self.names = tuple(entries)
        self._exact: dict[str, list[Phrase]] = {}
        self._stems: dict[str, list[Phrase]] = {}
        for name, phrases in entries.items():
            for phrase in phrases:
                steps = _steps(phrase)
                if not steps:
                    continue
                (first, stem), rest = steps[0], steps[1:]
                (self._stems if stem else self._exact).setdefault(first, []).append((name, rest))
        self._stem_lengths = sorted({len(s) for s in self._stems})
        self._order = {name: i for i, name in enumerate(self.names)}
        self._words: WordCache[list[Phrase]] = WordCache(WORD_CACHE_LIMIT)

    def _candidates(self, word: str) -> list[Phrase]:
        known = self._words.get(word)
        if known is not None:
            return known
        found = list(self._exact.get(word, ()))
        for length in self._stem_lengths:
            if length > len(word):
                break
            found += self._stems.get(word[:length], ())
        self._words.put(word, found)
        return found

    def find(self, folded: str) -> frozenset[str]:
        """Names of the entries (`area:...`, `symptom:...`, `critical`) that the folded text names."""
        return frozenset(self._found(folded))

    def _found(self, folded: str) -> set[str]:
        return self._found_in(_TOKEN.findall(folded))

    def _found_in(self, tokens: Sequence[str]) -> set[str]:
        found: set[str] = set()
        known = self._words.words  # the remembered words without a digit (most words), read directly
        for i, word in enumerate(tokens):
            candidates = known.get(word)
            if candidates is None:
                candidates = self._candidates(word)
            for name, rest in candidates:
                if name not in found and _follows(rest, tokens, i + 1):
                    found.add(name)
        return found

    def facts(self, folded: str) -> tuple[str, ...]:
        """The areas and symptoms the folded text names, in lexicon order."""
        found = self.find(folded)
        return tuple(n for n in self.names if n in found and n != CRITICAL)

    def says_critical(self, folded: str) -> bool:
        """Whether the text itself says the impact is critical (everyone, outage, lost data ...)."""
        return CRITICAL in self.find(folded)

    def assess(self, folded: str, tokens: Sequence[str] | None = None) -> tuple[tuple[str, ...], bool]:
        """`facts` and `says_critical` in one reading; `tokens` are `word_tokens(folded)` when the caller has them."""
        return self._facts(self._found_in(_TOKEN.findall(folded) if tokens is None else tokens))

    def assess_many(self, words: BatchWords) -> list[tuple[tuple[str, ...], bool]]:
        """`assess` of each text of a batch from its `\\w+` tokens numbered once (`BatchWords`).

        Each distinct token's candidate phrases are looked up once and split into the entries its own word names
        (phrases of one word: nothing to check) and the phrases that need the next words. Only positions whose
        token has some are visited (most tokens start no phrase). A text's set of names does not depend on the
        order they are found in, so it is the set `_found_in` finds.
        """
        remembered = [self._words.words.get(word) for word in words.distinct]
        candidates = [
            found_here if found_here is not None else self._candidates(word)
            for found_here, word in zip(remembered, words.distinct, strict=True)
        ]
        has = np.fromiter(map(bool, candidates), dtype=bool, count=len(candidates))
        split: dict[int, tuple[tuple[str, ...], tuple[Phrase, ...]]] = {
            number: (
                tuple(name for name, rest in candidates[number] if not rest),
                tuple(phrase for phrase in candidates[number] if phrase[1]),
            )
            for number in np.flatnonzero(has).tolist()
        }
        found: list[set[str]] = [set() for _ in range(len(words))]
        positions = np.flatnonzero(has[words.ids]) if len(words.ids) else words.ids
        starts = words.starts.tolist()
        per_text = words.per_text
        for position, row, number in zip(
            positions.tolist(), words.rows[positions].tolist(), words.ids[positions].tolist(), strict=True
        ):
            names = found[row]
            alone, longer = split[number]
            names.update(alone)
            for name, rest in longer:
                if name not in names and _follows(rest, per_text[row], position - starts[row] + 1):
                    names.add(name)
        return [self._facts(names) for names in found]

    def _facts(self, found: set[str]) -> tuple[tuple[str, ...], bool]:
        says_critical = CRITICAL in found
        found.discard(CRITICAL)
        # In lexicon order (a text names few entries: sorting them is cheaper than walking every name).
        return tuple(sorted(found, key=self._order.__getitem__)), says_critical

    @classmethod
    def load(cls, path: str | Path | None = None) -> Lexicon:
        """Read a lexicon file (the bundled `rules/lexicon.yaml` by default); `ConfigError` names what is wrong."""
        import yaml

        from sevtriage import yaml_text
        from sevtriage.resources import default_lexicon_path

        where = Path(path) if path is not None else default_lexicon_path()
        try:
            text = where.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(Problem(str(where), None, f"cannot read the lexicon ({error.strerror})")) from None
        try:
            data = yaml_text.load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            raise ConfigError(Problem(str(where), line, f"is not valid YAML ({error})")) from None
        return cls.from_dict(data, str(where), hashlib.sha256(text.encode("utf-8")).hexdigest()[:12])

    @classmethod
    def from_dict(cls, data: object, where: str = "lexicon", version: str = "") -> Lexicon:
        """Build from parsed YAML; raises `ConfigError` with the key that is wrong and what is allowed."""
        if not isinstance(data, dict):
            raise ConfigError(Problem(where, None, "the lexicon must be a mapping with areas, symptoms, critical"))
        unknown = sorted(set(data) - {"version", "areas", "symptoms", "critical"})
        if unknown:
            raise ConfigError(
                Problem(
                    where, None, f"lexicon keys must be one of {{version, areas, symptoms, critical}}; got {unknown}"
                )
            )
        if data.get("version") != LEXICON_FORMAT:
            raise ConfigError(Problem(where, None, f"version must be {LEXICON_FORMAT}; got {data.get('version')!r}"))
        entries: dict[str, list[str]] = {}
        for section, prefix in (("areas", "area"), ("symptoms", "symptom")):
            block = data.get(section) or {}
            if not isinstance(block, dict):
                raise ConfigError(Problem(where, None, f"{section} must map names to languages and phrases"))
            for key, value in block.items():
                entries[f"{prefix}:{key}"] = _phrases(value, where, f"{section}.{key}")
        if not entries:
            raise ConfigError(Problem(where, None, "the lexicon needs at least one area or symptom"))
        if data.get("critical"):
            entries[CRITICAL] = _phrases(data["critical"], where, "critical")
        return cls(entries, version or "inline")


def _phrases(entry: object, where: str, key: str) -> list[str]:
    if not isinstance(entry, dict):
        raise ConfigError(Problem(where, None, f"{key} must map languages ({', '.join(LANGUAGES)}) to phrase lists"))
    phrases: list[str] = []
    for language, values in entry.items():
        if language not in LANGUAGES:
            raise ConfigError(
                Problem(where, None, f"{key}: language must be one of {{{', '.join(LANGUAGES)}}}; got {language!r}")
            )
        if not isinstance(values, list) or not all(isinstance(v, str | int) for v in values):
            raise ConfigError(Problem(where, None, f"{key}.{language} must be a list of phrases"))
        phrases += [str(v) for v in values]
    if not phrases:
        raise ConfigError(Problem(where, None, f"{key} has no phrases"))
    return phrases


def _steps(phrase: str) -> tuple[Step, ...]:
    """A phrase as folded words, each exact or a stem; "clock-in" is the words "clock" and "in"."""
    from sevtriage.text import fold

    steps: list[Step] = []
    for piece in fold(phrase).split():
        stem = piece.endswith("*")
        words = _TOKEN.findall(piece)
        for position, word in enumerate(words):
            steps.append((word, stem and position == len(words) - 1))
    return tuple(steps)


def _follows(rest: tuple[Step, ...], tokens: Sequence[str], start: int) -> bool:
    if start + len(rest) > len(tokens):
        return False
    for offset, (word, stem) in enumerate(rest):
        token = tokens[start + offset]
        if not (token.startswith(word) if stem else token == word):
            return False
    return True


# -- cut-offs ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FamiliarityCutoffs:
    """Below these a request is `unfamiliar`; stored in the model card with how they were chosen."""

    known_words: float
    known_chars: float
    nearest: float
    quantile: float
    method: str = ""
    # Measured on the training data out of fold, for the card: share flagged and the accuracy on each side.
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "known_words": round(self.known_words, 6),
            "known_chars": round(self.known_chars, 6),
            "nearest": round(self.nearest, 6),
            "quantile": self.quantile,
            "method": self.method,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FamiliarityCutoffs:
        return cls(
            known_words=float(data["known_words"]),
            known_chars=float(data["known_chars"]),
            nearest=float(data["nearest"]),
            quantile=float(data["quantile"]),
            method=str(data.get("method", "")),
            evidence=dict(data.get("evidence") or {}),
        )


# -- measuring ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measures:
    """The three familiarity measures of a batch of requests, one entry per request."""

    known_words: FloatArray
    known_chars: FloatArray
    nearest: FloatArray


class FamiliarityIndex:
    """What a fitted model knows: its vocabularies and (cut) training vectors; thread-safe once built."""

    def __init__(
        self,
        word_vocabulary: Mapping[str, int],
        char_vocabulary: Mapping[str, int],
        char_ngrams: tuple[int, int],
        reference_t: sparse.csr_matrix,
        cutoffs: FamiliarityCutoffs | None,
        lexicon: Lexicon,
    ) -> None:
        self.word_vocabulary = word_vocabulary
        self.char_vocabulary = char_vocabulary
        self.min_n, self.max_n = char_ngrams
        # The training vectors transposed (terms x requests): a batch's similarities are one sparse product.
        self.reference_t = reference_t
        self.cutoffs = cutoffs
        self.lexicon = lexicon
        self._chars: WordCache[tuple[int, int]] = WordCache(CACHE_LIMIT)
        self._kinds: WordCache[int] = WordCache(CACHE_LIMIT)

    @classmethod
    def from_vectorizers(
        cls,
        vectorizer: FeatureUnion,
        reference_t: sparse.csr_matrix,
        cutoffs: FamiliarityCutoffs | None,
        lexicon: Lexicon,
    ) -> FamiliarityIndex:
        """Build from a fitted model's word + character `FeatureUnion` and its stored training vectors."""
        word = vectorizer.transformer_list[0][1]
        chars = vectorizer.transformer_list[1][1]
        return cls(
            {t: i for t, i in word.vocabulary_.items() if " " not in t},
            chars.vocabulary_,
            (int(chars.ngram_range[0]), int(chars.ngram_range[1])),
            reference_t,
            cutoffs,
            lexicon,
        )

    @classmethod
    def from_terms(
        cls,
        word_terms: Sequence[str],
        char_terms: Sequence[str],
        char_ngrams: tuple[int, int],
        reference_t: sparse.csr_matrix,
        cutoffs: FamiliarityCutoffs | None,
        lexicon: Lexicon,
    ) -> FamiliarityIndex:
        """Build from the vocabularies in column order (the compiled model's arrays)."""
        words = {str(t): i for i, t in enumerate(word_terms) if " " not in str(t)}
        chars = {str(t): i for i, t in enumerate(char_terms)}
        return cls(words, chars, char_ngrams, reference_t, cutoffs, lexicon)

    def measure(
        self,
        texts: Sequence[str],
        features: sparse.csr_matrix,
        tokens: Units | None = None,
        pieces: Units | None = None,
    ) -> Measures:
        """The three measures for prepared (folded) texts and their model features.

        `tokens` are the texts' `text.WORD_RUNS` runs and `pieces` their `str.split()`, when the caller made them
        already (one reading serves the lexicon, the known words and the model's word n-grams; one split the
        known character n-grams and the model's); best as `features.BatchWords`, numbered once for the batch.
        """
        nearest = nearest_similarity(features, self.reference_t)
        if not _numbered(texts, tokens):
            # A few texts (the service's small batches, one request): numbering costs more than it saves.
            runs = [_TOKEN.findall(t) for t in texts] if tokens is None else _per_text(tokens)
            split_up = [t.split() for t in texts] if pieces is None else _per_text(pieces)
            known_words = np.asarray([self._known_words_of(t) for t in runs], dtype=np.float64)
            known_chars = np.asarray([self._known_chars_of(p) for p in split_up], dtype=np.float64)
            return Measures(known_words, known_chars, nearest)
        words = batch_words([_TOKEN.findall(t) for t in texts] if tokens is None else tokens)
        split = batch_words([t.split() for t in texts] if pieces is None else pieces)
        return Measures(self._known_words_many(words), self._known_chars_many(split), nearest)

    def assess(
        self,
        texts: Sequence[str],
        features: sparse.csr_matrix,
        tokens: Units | None = None,
        pieces: Units | None = None,
    ) -> list[Familiarity]:
        """One `Familiarity` per prepared text, with the reasons the card's cut-offs give (`tokens`, `pieces`: see
        `measure`)."""
        found: list[tuple[tuple[str, ...], bool]]
        if _numbered(texts, tokens):
            words = batch_words([_TOKEN.findall(t) for t in texts] if tokens is None else tokens)
            measures = self.measure(texts, features, words, pieces)
            found = self.lexicon.assess_many(words)
        else:
            runs = [_TOKEN.findall(t) for t in texts] if tokens is None else _per_text(tokens)
            measures = self.measure(texts, features, runs, pieces)
            found = [self.lexicon.assess(text, text_runs) for text, text_runs in zip(texts, runs, strict=True)]
        cut = self.cutoffs
        out: list[Familiarity] = []
        for known_words, known_chars, nearest, (facts, says_critical) in zip(
            measures.known_words.tolist(),
            measures.known_chars.tolist(),
            measures.nearest.tolist(),
            found,
            strict=True,
        ):
            reasons: list[str] = []
            if cut is not None and (
                known_words < cut.known_words or known_chars < cut.known_chars or nearest < cut.nearest
            ):
                reasons.append(REVIEW_UNFAMILIAR)
            if not facts:
                reasons.append(REVIEW_TOO_VAGUE)
            out.append(
                Familiarity(
                    known_words=known_words,
                    known_chars=known_chars,
                    nearest=nearest,
                    facts=facts,
                    says_critical=says_critical,
                    reasons=tuple(reasons),
                )
            )
        return out

    def _known_words(self, text: str) -> float:
        """The share of the text's distinct content words that the model knows (one regular expression)."""
        words = set(CONTENT_WORD.findall(text))
        if not words:
            # Nothing to recognise (a subject like "???" or a number): as unknown as it gets.
            return 0.0
        return sum(1 for w in words if w in self.word_vocabulary) / len(words)

    def _known_words_of(self, tokens: Sequence[str]) -> float:
        """`_known_words` of a text from its `\\w+` tokens: a content word is a whole token of 4+ letters (the
        pattern's word boundaries fall exactly at a token's ends), so its tokens of letters only are the same set.
        Whether a token is a content word, and a known one, is remembered per token."""
        kinds = self._kinds.words
        known = total = 0
        for token in set(tokens):
            kind = kinds.get(token)
            if kind is None:
                kind = self._kind(token)
            if kind:
                total += 1
                known += kind - 1
        return known / total if total else 0.0

    def _known_words_many(self, words: BatchWords) -> FloatArray:
        """`_known_words_of` of every text of a batch: each distinct token's kind looked up once, then the distinct
        (text, content word) pairs counted with numpy. The share is the same float: numpy divides the two counts
        as float64, and Python's `int / int` of counts below 2**53 is that same correctly rounded quotient."""
        remembered = [self._kinds.words.get(token) for token in words.distinct]
        kinds = [
            kind if kind is not None else self._kind(token)
            for kind, token in zip(remembered, words.distinct, strict=True)
        ]
        kind_of = np.asarray(kinds, dtype=np.int64) if kinds else _NO_COUNTS
        rows, numbers = words.distinct_pairs(kind_of[words.ids] > 0)
        total = np.bincount(rows, minlength=len(words))
        known = np.bincount(rows[kind_of[numbers] == 2], minlength=len(words))
        return _shares(known, total)

    def _kind(self, token: str) -> int:
        """0: not a content word; 1: a content word the model does not know; 2: one it knows (remembered)."""
        kind = self._kinds.get(token)
        if kind is None:
            kind = 0 if _CONTENT_TOKEN.fullmatch(token) is None else 1 + (token in self.word_vocabulary)
            self._kinds.put(token, kind)
        return kind

    def _known_chars(self, text: str) -> float:
        return self._known_chars_of(text.split())

    def _known_chars_of(self, pieces: Sequence[str]) -> float:
        """The share of known distinct character n-grams, over the text's `str.split()` pieces."""
        known = total = 0
        remembered = self._chars.words  # words without a digit (most words), read directly
        for word in set(pieces):
            counts = remembered.get(word) or self._char_counts(word)
            known += counts[0]
            total += counts[1]
        return known / total if total else 0.0

    def _known_chars_many(self, pieces: BatchWords) -> FloatArray:
        """`_known_chars_of` of every text of a batch: each distinct piece's (known, total) looked up once, then
        summed over the distinct (text, piece) pairs with numpy (exact: integer counts far below 2**53)."""
        remembered = self._chars.words
        found = [remembered.get(word) or self._char_counts(word) for word in pieces.distinct]
        counts = np.fromiter(chain.from_iterable(found), dtype=np.int64, count=2 * len(found)).reshape(-1, 2)
        rows, numbers = pieces.distinct_pairs()
        known = np.bincount(rows, weights=counts[numbers, 0], minlength=len(pieces))
        total = np.bincount(rows, weights=counts[numbers, 1], minlength=len(pieces))
        return _shares(known, total)

    def _char_counts(self, word: str) -> tuple[int, int]:
        """How many of a word's distinct character n-grams the model knows, and how many it has (remembered)."""
        counts = self._chars.get(word)
        if counts is None:
            grams = set(char_wb_ngrams(word, self.min_n, self.max_n))
            counts = (sum(1 for g in grams if g in self.char_vocabulary), len(grams))
            self._chars.put(word, counts)
        return counts


_NO_COUNTS = np.zeros(0, dtype=np.int64)


def _numbered(texts: Sequence[str], units: Units | None) -> bool:
    """Whether to measure through a batch numbering: given one, or enough texts for it to pay (`SMALL_BATCH`)."""
    return isinstance(units, BatchWords) or len(texts) >= SMALL_BATCH


def _per_text(units: Units) -> Sequence[Sequence[str]]:
    return units.per_text if isinstance(units, BatchWords) else units


def _shares(known: npt.NDArray[np.int64 | np.float64], total: npt.NDArray[np.int64 | np.float64]) -> FloatArray:
    """known / total per text as float64, 0.0 where a text has nothing to count."""
    out = np.zeros(len(total), dtype=np.float64)
    np.divide(known, total, out=out, where=total > 0)
    return out


def char_wb_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """The `char_wb` n-grams of one word, padded with spaces, as scikit-learn makes them."""
    padded = f" {word} "
    out: list[str] = []
    for n in range(min_n, max_n + 1):
        out += [padded[i : i + n] for i in range(max(len(padded) - n, 0) + 1)]
        if len(padded) <= n:
            break
    return out


def reference_vectors(features: sparse.csr_matrix, terms: int = REFERENCE_TERMS) -> sparse.csr_matrix:
    """Training vectors to store: each row cut to its `terms` heaviest entries and scaled to unit length."""
    rows = sparse.csr_matrix(features, dtype=np.float32)
    data, indices, indptr = [], [], [0]
    for i in range(rows.shape[0]):
        start, end = rows.indptr[i], rows.indptr[i + 1]
        values, columns = rows.data[start:end], rows.indices[start:end]
        if len(values) > terms:
            keep = np.argpartition(-values, terms)[:terms]
            values, columns = values[keep], columns[keep]
        norm = float(np.sqrt(np.dot(values, values)))
        data.append(values / norm if norm else values)
        indices.append(columns)
        indptr.append(indptr[-1] + len(values))
    return sparse.csr_matrix(
        (np.concatenate(data) if data else [], np.concatenate(indices) if indices else [], indptr),
        shape=rows.shape,
        dtype=np.float32,
    )


def nearest_similarity(features: sparse.csr_matrix, reference_t: sparse.csr_matrix) -> FloatArray:
    """Cosine similarity of each row of `features` to its most similar reference vector (columns of `reference_t`).

    One sparse product and two `reduceat`s: a single request costs about as much as the product itself.
    """
    n = features.shape[0]
    out = np.zeros(n, dtype=np.float64)
    if n == 0 or reference_t.shape[1] == 0:
        return out
    rows = sparse.csr_matrix(features)
    squares = np.asarray(rows.data, dtype=np.float64) ** 2
    norms = _row_reduce(np.add, squares, rows.indptr, n)
    best = _best_products(rows, sparse.csr_matrix(reference_t))
    np.divide(best, np.sqrt(norms), out=out, where=norms > 0)
    return np.asarray(np.clip(out, 0.0, 1.0), dtype=np.float64)


def _best_products(rows: sparse.csr_matrix, reference_t: sparse.csr_matrix) -> FloatArray:
    """The largest entry of each row of `rows @ reference_t` (0 for a row with none), as float64.

    The same numbers as the product through `@`: scipy's own `csr_matmat` runs on the same arrays, so every
    float32 sum keeps its order. What is skipped is the product's first pass (`csr_matmat_maxnnz`, a third of
    its time), which only counts the result's entries to size it: the count of multiplications, one gather,
    bounds it as well. The result's values are reduced in their own type (a maximum is exact in any type) and
    only the row maxima are widened. `tests/model/test_familiarity.py` checks equality with the product.
    """
    n, columns = rows.shape[0], reference_t.shape[1]
    if rows.shape[1] != reference_t.shape[0]:
        raise ValueError(f"features must have {reference_t.shape[0]} columns; got {rows.shape[1]}")
    if rows.dtype != reference_t.dtype or _csr_matmat is None:
        products = sparse.csr_matrix(rows @ reference_t)
        return _row_reduce(np.maximum, np.asarray(products.data, dtype=np.float64), products.indptr, n)
    per_term = np.diff(reference_t.indptr)
    bound = min(int(per_term[rows.indices].sum(dtype=np.int64)), n * columns)
    big = max(bound, rows.nnz, reference_t.nnz, rows.shape[1], n + 1, columns) > np.iinfo(np.int32).max
    index = np.int64 if big else np.int32
    indptr = np.empty(n + 1, dtype=index)
    found_columns = np.empty(bound, dtype=index)
    found = np.empty(bound, dtype=rows.dtype)
    _csr_matmat(
        n,
        columns,
        np.asarray(rows.indptr, dtype=index),
        np.asarray(rows.indices, dtype=index),
        rows.data,
        np.asarray(reference_t.indptr, dtype=index),
        np.asarray(reference_t.indices, dtype=index),
        reference_t.data,
        indptr,
        found_columns,
        found,
    )
    best = np.zeros(n, dtype=found.dtype)
    filled = np.flatnonzero(np.diff(indptr) > 0)
    if len(filled):
        best[filled] = np.maximum.reduceat(found[: indptr[-1]], indptr[filled])
    return np.asarray(best, dtype=np.float64)


def _row_reduce(
    operation: np.ufunc, values: FloatArray, indptr: npt.NDArray[np.int32 | np.int64], n: int
) -> FloatArray:
    """`operation` over each CSR row's values; 0 for an empty row."""
    out = np.zeros(n, dtype=np.float64)
    filled = np.flatnonzero(np.diff(indptr) > 0)
    if len(filled):
        out[filled] = operation.reduceat(values, indptr[filled])
    return out


# -- out-of-fold measures and the cut-offs -----------------------------------------------------------


def folds_of(groups: Sequence[str], y: npt.NDArray[np.int64], n_folds: int, seed: int) -> list[npt.NDArray[np.intp]]:
    """Validation index sets: grouped by source (file) when there are enough groups, else stratified rows."""
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    distinct = len(set(groups))
    index = np.arange(len(y))
    if distinct >= 2 * n_folds:
        return [test for _, test in GroupKFold(n_splits=n_folds).split(index, y, list(groups))]
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [test for _, test in splitter.split(index, y)]


def out_of_fold_measures(
    texts: Sequence[str],
    features: sparse.csr_matrix,
    folds: Sequence[npt.NDArray[np.intp]],
    min_df: int,
    char_ngrams: tuple[int, int],
) -> Measures:
    """Each training request measured against what the other folds would teach a model.

    A word or n-gram counts as known when it occurs in at least `min_df` requests of the other folds (the
    vectorizers' own rule); the nearest request is looked for among the other folds' requests.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    n = len(texts)
    words = CountVectorizer(token_pattern=CONTENT_WORD.pattern, lowercase=False, binary=True).fit_transform(texts)
    chars = CountVectorizer(
        analyzer="char_wb", ngram_range=char_ngrams, lowercase=False, binary=True, dtype=np.int32
    ).fit_transform(texts)
    reference = reference_vectors(features)
    known_words = np.zeros(n, dtype=np.float64)
    known_chars = np.zeros(n, dtype=np.float64)
    nearest = np.zeros(n, dtype=np.float64)
    df_words = np.asarray(words.sum(axis=0)).ravel()
    df_chars = np.asarray(chars.sum(axis=0)).ravel()
    for test in folds:
        inside = np.zeros(n, dtype=bool)
        inside[test] = True
        known_words[test] = _known_share(words, test, df_words - np.asarray(words[test].sum(axis=0)).ravel(), min_df)
        known_chars[test] = _known_share(chars, test, df_chars - np.asarray(chars[test].sum(axis=0)).ravel(), min_df)
        nearest[test] = nearest_similarity(features[test], sparse.csr_matrix(reference[~inside].T))
    return Measures(known_words, known_chars, nearest)


def _known_share(
    matrix: sparse.csr_matrix, rows: npt.NDArray[np.intp], df_other: npt.NDArray[np.int64], min_df: int
) -> FloatArray:
    part = sparse.csr_matrix(matrix[rows])
    known = (df_other >= min_df).astype(np.float64)
    total = np.asarray(part.sum(axis=1)).ravel().astype(np.float64)
    hits = np.asarray(part @ known).ravel()
    out = np.zeros(len(rows), dtype=np.float64)
    np.divide(hits, total, out=out, where=total > 0)
    return out


# Quantiles tried for the cut-offs, and the one used when the training data shows no drop in precision.
QUANTILES = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1)
FALLBACK_QUANTILE = 0.01
# Flagged auto-labels needed before a precision measured on them counts.
MIN_FLAGGED = 20
# Confidence of the one-sided bound that says the flagged tail breaks the precision promise.
BOUND_CONFIDENCE = 0.95


def calibrate(
    measures: Measures,
    correct: npt.NDArray[np.bool_],
    auto: npt.NDArray[np.bool_],
    target_precision: float,
    grouping: str,
) -> FamiliarityCutoffs:
    """Cut-offs at the quantile of the out-of-fold measures below which auto-label precision drops.

    For each quantile of `QUANTILES`, the requests below it on any measure are "flagged"; the chosen
    quantile is the largest one at which the flagged requests that would have been auto-labelled
    (`auto`) are shown to break the promise: the one-sided 95% Clopper-Pearson *upper* bound of their
    precision is below `target_precision` (Clopper and Pearson 1934; a point estimate below the target
    would flag a quarter of a corpus whose precision sits near the target anyway). With no such drop,
    `FALLBACK_QUANTILE`. `correct` says whether the model's out-of-fold answer was right.
    """
    chosen = FALLBACK_QUANTILE
    tried: dict[str, Any] = {}
    for quantile in QUANTILES:
        flagged = _below(measures, quantile)
        kept = flagged & auto
        right, count = int(correct[kept].sum()), int(kept.sum())
        precision = right / count if count else None
        upper = precision_upper_bound(right, count)
        tried[f"{quantile:g}"] = {
            "flagged": int(flagged.sum()),
            "auto_flagged": count,
            "precision": precision,
            "upper_bound": round(upper, 4),
        }
        if count >= MIN_FLAGGED and upper < target_precision:
            chosen = quantile
    flagged = _below(measures, chosen)
    evidence = {
        "rows": len(correct),
        "flagged": int(flagged.sum()),
        "auto_precision_flagged": _rounded(correct[flagged & auto]),
        "auto_precision_rest": _rounded(correct[~flagged & auto]),
        "tried": {
            k: {**v, "precision": round(v["precision"], 4) if v["precision"] is not None else None}
            for k, v in tried.items()
        },
    }
    method = (
        f"the {chosen:.1%} quantile of each measure taken out of fold on the training data ({grouping}): the "
        f"largest of {', '.join(f'{q:.1%}' for q in QUANTILES)} at which the {BOUND_CONFIDENCE:.0%} upper "
        f"Clopper-Pearson bound of the flagged auto-labels' precision is below the {target_precision:.0%} target "
        f"(else {FALLBACK_QUANTILE:.0%})"
    )
    # Rounded as the card stores them, so a loaded model flags exactly what the trained one did.
    return FamiliarityCutoffs(
        round(float(np.quantile(measures.known_words, chosen)), 6),
        round(float(np.quantile(measures.known_chars, chosen)), 6),
        round(float(np.quantile(measures.nearest, chosen)), 6),
        chosen,
        method,
        evidence,
    )


def precision_upper_bound(right: int, count: int, confidence: float = BOUND_CONFIDENCE) -> float:
    """One-sided Clopper-Pearson upper confidence bound of a proportion `right / count` (1.0 without data)."""
    from scipy.stats import beta

    if count == 0 or right >= count:
        return 1.0
    return float(beta.ppf(confidence, right + 1, count - right))


def _below(measures: Measures, quantile: float) -> npt.NDArray[np.bool_]:
    out = np.zeros(len(measures.nearest), dtype=bool)
    for values in (measures.known_words, measures.known_chars, measures.nearest):
        out |= values < np.quantile(values, quantile)
    return out


def _rounded(values: npt.NDArray[np.bool_]) -> float | None:
    return round(float(values.mean()), 4) if len(values) else None


def fit_familiarity(
    vectorizer: FeatureUnion,
    texts: Sequence[str],
    features: sparse.csr_matrix,
    *,
    groups: Sequence[str],
    grouping: str | None = None,
    out_of_fold: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray],
    auto_label: Mapping[int, float | None],
    target_precision: float,
    min_df: int,
    folds: int,
    seed: int,
    lexicon: Lexicon,
) -> FamiliarityIndex:
    """The familiarity index of a model fitted on `texts`, with cut-offs calibrated out of fold.

    `out_of_fold` is (true, predicted, calibrated probabilities) of the model's cross-validation, and
    `auto_label` the per-class thresholds chosen on it: they say which training requests would have been
    auto-labelled and whether that was right.
    """
    truth, predicted, probabilities = out_of_fold
    chars = vectorizer.transformer_list[1][1]
    index_sets = folds_of(groups, truth, folds, seed)
    if grouping is None:
        grouping = (
            f"group {folds}-fold by source file" if len(set(groups)) >= 2 * folds else f"stratified {folds}-fold by row"
        )
    measures = out_of_fold_measures(texts, features, index_sets, min_df, tuple(chars.ngram_range))
    confidence = probabilities[np.arange(len(predicted)), predicted - 1]
    limits = np.asarray([auto_label.get(int(p)) if auto_label.get(int(p)) is not None else np.inf for p in predicted])
    cutoffs = calibrate(measures, truth == predicted, confidence >= limits, target_precision, grouping)
    vague = np.asarray([not lexicon.facts(t) for t in texts], dtype=bool)
    correct = truth == predicted
    evidence = {
        **cutoffs.evidence,
        "vague_share": round(float(vague.mean()), 4) if len(vague) else 0.0,
        "vague_accuracy": _rounded(correct[vague]),
        "lexicon": lexicon.version,
    }
    cutoffs = FamiliarityCutoffs(
        cutoffs.known_words, cutoffs.known_chars, cutoffs.nearest, cutoffs.quantile, cutoffs.method, evidence
    )
    reference_t = sparse.csr_matrix(reference_vectors(features).T, dtype=np.float32)
    return FamiliarityIndex.from_vectorizers(vectorizer, reference_t, cutoffs, lexicon)
