"""Find the rule file's signals in a request: Unicode whole-word phrases on folded text, plus fields.

Matching happens here in Python, not in durable-rules: its regex dialect silently never matches
`\\b`, `^`, `$` or `\\d`, and its `%w` is ASCII only, so Slovak and Czech words would be missed. The
engine gets plain flags instead.

Text is folded (lower case, no diacritics, one character per character), so a phrase written with
or without accents matches either spelling, and a span found in folded text is the same span in the
customer's original text: that original text is the evidence a specialist sees.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sevtriage.rulebook import Negation, Phrase, Rulebook, Signal
from sevtriage.text import fold

# A word for negation purposes: letters/digits plus inner apostrophes ("isn't", "wasn't").
_WORD = re.compile(r"\w+(?:'\w+)*")
# Negation does not reach across a clause ("are not sent, nothing happens"), a sentence or a line.
_CLAUSE_BREAK = re.compile(r"[,.!?;:\n]")
_MAX_EVIDENCE = 3
# Words of folded text as the prefilter sees them (Unicode letters and digits).
_TOKEN = re.compile(r"\w+")


def phrase_regex(phrase: str) -> str:
    """The regular expression (on folded text) of one phrase.

    Words are separated by any run of spaces or hyphens; `*` at the end of a word matches any word
    ending (`nefung*` matches "nefunguje", "nefungovalo"); an apostrophe is optional (can't = cant).
    """
    words = fold(phrase.strip()).split()
    parts: list[str] = []
    for word in words:
        stem = word.endswith("*")
        core = word[:-1] if stem else word
        escaped = re.escape(core).replace("'", "'?")
        parts.append(escaped + (r"\w*" if stem else ""))
    return r"[\s\-]+".join(parts)


def _whole_word(body: str) -> str:
    # (?<!\w) / (?!\w) rather than \b: the phrase may start or end with punctuation ("500", "app down?").
    return rf"(?<!\w)(?:{body})(?!\w)"


@dataclass(frozen=True, slots=True)
class Span:
    """Where a signal was found: [start, end) in the request text, and that text."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules can see about one request: the signals present and the request fields."""

    signals: frozenset[str]
    fields: Mapping[str, str]
    evidence: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class _CompiledSignal:
    name: str
    phrase_regex: re.Pattern[str] | None
    pattern_regex: re.Pattern[str] | None
    # A phrase can only match where a word of the text equals one of `anchors` or starts with one of
    # `stems` (the first word of each phrase); checking that first skips most regex scans.
    anchors: frozenset[str]
    stems: tuple[str, ...]
    fields: Mapping[str, frozenset[str]]
    negatable: bool

    def may_match(self, words: frozenset[str], sorted_words: list[str]) -> bool:
        if not words.isdisjoint(self.anchors):
            return True
        for stem in self.stems:
            at = bisect.bisect_left(sorted_words, stem)
            if at < len(sorted_words) and sorted_words[at].startswith(stem):
                return True
        return False


class SignalMatcher:
    """All signals of a rulebook compiled once; `facts(...)` is pure and thread-safe."""

    def __init__(self, book: Rulebook) -> None:
        self.negation: Negation = book.negation
        self.field_names = book.field_names()
        self._signals = tuple(_compile_signal(s) for s in book.signals.values())

    def spans(self, text: str) -> dict[str, list[Span]]:
        """Non-negated occurrences of each signal in `text` (up to three per signal), in text order."""
        folded = fold(text)
        words = frozenset(_TOKEN.findall(folded))
        sorted_words = sorted(words)
        found: dict[str, list[Span]] = {}
        for signal in self._signals:
            spans: list[Span] = []
            regexes = (
                signal.phrase_regex if signal.may_match(words, sorted_words) else None,
                signal.pattern_regex,
            )
            for regex in regexes:
                if regex is None:
                    continue
                for match in regex.finditer(folded):
                    if len(spans) >= _MAX_EVIDENCE:
                        break
                    if signal.negatable and self._negated(folded, match.start()):
                        continue
                    spans.append(Span(match.start(), match.end(), text[match.start() : match.end()]))
            if spans:
                found[signal.name] = sorted(spans, key=lambda span: span.start)
        return found

    def facts(self, text: str, fields: Mapping[str, str]) -> Facts:
        """Signals and fields of one request; `fields` are raw request fields (plan, environment, ...)."""
        folded_fields = {name: fold(str(fields.get(name, "") or "").strip()) for name in self.field_names}
        evidence: dict[str, tuple[str, ...]] = {
            name: tuple(dict.fromkeys(span.text for span in spans)) for name, spans in self.spans(text).items()
        }
        for signal in self._signals:
            for fname, values in signal.fields.items():
                value = folded_fields.get(fname, "")
                if value and value in values:
                    raw = str(fields.get(fname, "")).strip()
                    evidence[signal.name] = (*evidence.get(signal.name, ()), f"{fname}: {raw}")
                    break
        return Facts(signals=frozenset(evidence), fields=folded_fields, evidence=evidence)

    def _negated(self, folded: str, start: int) -> bool:
        if not self.negation.words:
            return False
        window_start = max(0, start - 80)
        before = folded[window_start:start]
        breaks = list(_CLAUSE_BREAK.finditer(before))
        if breaks:
            before = before[breaks[-1].end() :]
        words = _WORD.findall(before)[-self.negation.window :]
        return any(word in self.negation.words for word in words)


def _compile_signal(signal: Signal) -> _CompiledSignal:
    phrases = [phrase_regex(p.text) for p in _longest_first(signal.phrases)]
    patterns = [f"(?:{p.regex})" for p in signal.patterns]
    anchors: set[str] = set()
    stems: set[str] = set()
    for phrase in signal.phrases:
        first = fold(phrase.text.strip()).split()[0]
        run = _TOKEN.match(first)
        if run is None:
            stems.add("")  # starts with punctuation: no cheap test, always scan
        elif run.end() == len(first):
            anchors.add(first)
        else:
            stems.add(run.group())  # "nefung*", "can't", "e-mail": the text's word starts with this run
    return _CompiledSignal(
        name=signal.name,
        phrase_regex=re.compile(_whole_word("|".join(phrases))) if phrases else None,
        pattern_regex=re.compile(_whole_word("|".join(patterns))) if patterns else None,
        anchors=frozenset(anchors),
        stems=tuple(sorted(stems)),
        fields={name: frozenset(values) for name, values in signal.fields.items()},
        negatable=signal.negatable,
    )


def _longest_first(phrases: tuple[Phrase, ...]) -> list[Phrase]:
    # Longer phrases first, so the evidence shows "nobody can log in" rather than "log in".
    return sorted(phrases, key=lambda p: len(p.text), reverse=True)
