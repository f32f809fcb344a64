"""Signal matching: whole words, folded accents and case, word-stem wildcards, negation, fields, evidence."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.resources import default_rules_path
from sevtriage.rulebook import Negation, load_rulebook, parse_rulebook
from sevtriage.signals import SignalMatcher, phrase_regex
from sevtriage.text import fold

SOURCE = """
negation:
  window: 3
  words:
    en: ["no", not, "isn't"]
    sk: [nie]
signals:
  down:
    description: d
    phrases:
      en: [app is down, "can't log in"]
      sk: [nefung*, výpadok]
  data_loss:
    description: d
    phrases:
      en: [data was lost]
  topic:
    description: d
    negatable: false
    phrases:
      en: [payroll]
  staging:
    description: d
    fields:
      environment: [staging, test]
  code:
    description: d
    patterns: ['e\\d{3}']
rules: []
"""


@pytest.fixture(scope="module")
def matcher() -> SignalMatcher:
    return SignalMatcher(parse_rulebook(SOURCE, "s.yaml"))


@pytest.mark.parametrize(
    ("text", "signals"),
    [
        ("The APP is DOWN", {"down"}),
        ("the app is    down", {"down"}),
        ("app is downloading", set()),  # whole words only
        ("the happ is down", set()),
        ("Aplikácia NEFUNGUJE", {"down"}),  # accents and case folded, stem wildcard
        ("aplikacia nefungovala", {"down"}),
        ("Výpadok", {"down"}),
        ("vypadok", {"down"}),  # written without diacritics
        ("vypadoky", set()),
        ("I can’t log in", {"down"}),  # typographic apostrophe
        ("I cant log in", {"down"}),  # apostrophe optional
        ("error E503 on save", {"code"}),
        ("no data was lost", set()),  # negated
        ("No, data was lost.", {"data_loss"}),  # a clause break stops negation
        ("we did not see it and then data was lost", {"data_loss"}),  # negation too far away (window 3)
        ("not payroll", {"topic"}),  # negatable: false
        ("aplikácia nie nefunguje", set()),
    ],
)
def test_text_signals(matcher: SignalMatcher, text: str, signals: set[str]) -> None:
    assert set(matcher.facts(text, {}).signals) == signals


def test_evidence_is_the_original_text(matcher: SignalMatcher) -> None:
    facts = matcher.facts("Dobrý deň, Aplikácia NEFUNGUJE od rána. Výpadok!", {})
    assert facts.evidence["down"] == ("NEFUNGUJE", "Výpadok")


def test_spans_point_into_the_original_text(matcher: SignalMatcher) -> None:
    text = "Žiadny prístup – aplikácia nefunguje"
    spans = matcher.spans(text)["down"]
    assert [text[s.start : s.end] for s in spans] == ["nefunguje"]


@pytest.mark.parametrize(
    ("fields", "present"),
    [({"environment": "Staging"}, True), ({"environment": " TEST "}, True), ({"environment": "production"}, False)],
)
def test_field_signals(matcher: SignalMatcher, fields: dict[str, str], present: bool) -> None:
    facts = matcher.facts("hello", fields)
    assert ("staging" in facts.signals) is present
    if present:
        assert facts.evidence["staging"] == (f"environment: {fields['environment'].strip()}",)


def test_phrase_regex_escapes_and_stems() -> None:
    assert re.fullmatch(phrase_regex("c++ (beta)"), "c++ (beta)")
    assert re.fullmatch(phrase_regex("nefung*"), "nefunguje")
    assert re.fullmatch(phrase_regex("log in"), "log-in")
    assert not re.fullmatch(phrase_regex("nefung*"), "nefung uje")


BUNDLED_MATCHER = SignalMatcher(load_rulebook(default_rules_path()))


@given(st.text(max_size=200))
def test_matching_never_fails_and_spans_stay_inside(text: str) -> None:
    for spans in BUNDLED_MATCHER.spans(text).values():
        for span in spans:
            assert 0 <= span.start < span.end <= len(text)
            assert text[span.start : span.end] == span.text


def _vocabulary() -> list[str]:
    book = load_rulebook(default_rules_path())
    words = {
        w.rstrip("*") + ("uje" if w.endswith("*") else "")
        for s in book.signals.values()
        for p in s.phrases
        for w in p.text.split()
    }
    return sorted(words | {"PRIHLÁSENIE", "Nefunguje", "nikto", "500", "how", "?", ".", ","})


_NO_NEGATION_BOOK = dataclasses.replace(load_rulebook(default_rules_path()), negation=Negation(3, frozenset()))
_NO_NEGATION_MATCHER = SignalMatcher(_NO_NEGATION_BOOK)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_vocabulary()), max_size=25), st.sampled_from([" ", "\n", " - ", ", "]))
def test_word_prefilter_never_hides_a_signal(words: list[str], separator: str) -> None:
    # Reference: every signal's phrases and patterns as one whole-word regex, scanned without the prefilter.
    text = separator.join(words)
    folded = fold(text)
    expected = set()
    for signal in _NO_NEGATION_BOOK.signals.values():
        bodies = [phrase_regex(p.text) for p in signal.phrases] + [f"(?:{p.regex})" for p in signal.patterns]
        if bodies and re.search(rf"(?<!\w)(?:{'|'.join(bodies)})(?!\w)", folded):
            expected.add(signal.name)
    assert set(_NO_NEGATION_MATCHER.spans(text)) == expected
