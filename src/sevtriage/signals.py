"""Find the rule file's signals in a request: Unicode whole-word phrases on folded text, plus fields.

Matching happens here in Python, not in durable-rules: its regex dialect silently never matches
`\\b`, `^`, `$` or `\\d`, and its `%w` is ASCII only, so Slovak and Czech words would be missed. The
engine gets plain flags instead.

Text is folded (lower case, no diacritics, one character per character), so a phrase written with
or without accents matches either spelling, and a span found in folded text is the same span in the
customer's original text: that original text is the evidence a specialist sees.
"""

from __future__ import annotations

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
    text_regex: re.Pattern[str] | None
    fields: Mapping[str, frozenset[str]]
    negatable: bool


class SignalMatcher:
    """All signals of a rulebook compiled once; `facts(...)` is pure and thread-safe."""

    def __init__(self, book: Rulebook) -> None:
        self.negation: Negation = book.negation
        self.field_names = book.field_names()
        self._signals = tuple(_compile_signal(s) for s in book.signals.values())

    def spans(self, text: str) -> dict[str, list[Span]]:
        """Every non-negated occurrence of each signal in `text` (up to three per signal)."""
        folded = fold(text)
        found: dict[str, list[Span]] = {}
        for signal in self._signals:
            if signal.text_regex is None:
                continue
            for match in signal.text_regex.finditer(folded):
                if signal.negatable and self._negated(folded, match.start()):
                    continue
                found.setdefault(signal.name, []).append(
                    Span(match.start(), match.end(), text[match.start() : match.end()])
                )
                if len(found[signal.name]) >= _MAX_EVIDENCE:
                    break
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
    bodies = [phrase_regex(p.text) for p in _longest_first(signal.phrases)]
    bodies.extend(f"(?:{p.regex})" for p in signal.patterns)
    regex = re.compile(_whole_word("|".join(bodies))) if bodies else None
    fields = {name: frozenset(values) for name, values in signal.fields.items()}
    return _CompiledSignal(name=signal.name, text_regex=regex, fields=fields, negatable=signal.negatable)


def _longest_first(phrases: tuple[Phrase, ...]) -> list[Phrase]:
    # Longer phrases first, so the evidence shows "nobody can log in" rather than "log in".
    return sorted(phrases, key=lambda p: len(p.text), reverse=True)
