"""Signal matching: whole words, folded accents and case, word-stem wildcards, negation, fields, evidence."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.resources import default_rules_path
from sevtriage.rules.rulebook import Negation, Rulebook, load_rulebook, parse_rulebook
from sevtriage.rules.signals import (
    SignalMatcher,
    _digit_start,
    _literal_starts,
    _pattern_starts,
    _word_starts,
    phrase_regex,
)
from sevtriage.text import fold, new_message_text

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


# --- the word index against a plain scan ---------------------------------------------------------
# The reference is the matcher as it was before the word index: each signal's phrases (longest first)
# as one whole-word alternation, then its patterns, scanned with `finditer`; negation looks at the
# last words of the same clause in the 80 characters before a match. The index must give the same
# spans, so verdicts and evidence do not change.


def _reference_negated(negation: Negation, folded: str, start: int) -> bool:
    before = folded[max(0, start - 80) : start]
    breaks = list(re.finditer(r"[,.!?;:\n]", before))
    if breaks:
        before = before[breaks[-1].end() :]
    return any(word in negation.words for word in re.findall(r"\w+(?:'\w+)*", before)[-negation.window :])


_REFERENCE: dict[str, dict[str, list[re.Pattern[str]]]] = {}


def _reference_regexes(book: Rulebook) -> dict[str, list[re.Pattern[str]]]:
    if book.path in _REFERENCE:
        return _REFERENCE[book.path]
    out = _REFERENCE[book.path] = {}
    for signal in book.signals.values():
        phrases = sorted(signal.phrases, key=lambda p: len(p.text), reverse=True)
        alternations = ([phrase_regex(p.text) for p in phrases], [f"(?:{p.regex})" for p in signal.patterns])
        out[signal.name] = [re.compile(rf"(?<!\w)(?:{'|'.join(b)})(?!\w)") for b in alternations if b]
    return out


def _reference_spans(book: Rulebook, text: str) -> dict[str, list[tuple[int, int]]]:
    folded = fold(text)
    found: dict[str, list[tuple[int, int]]] = {}
    for signal in book.signals.values():
        spans: list[tuple[int, int]] = []
        for regex in _reference_regexes(book)[signal.name]:
            for match in regex.finditer(folded):
                if len(spans) >= 3:
                    break
                if signal.negatable and _reference_negated(book.negation, folded, match.start()):
                    continue
                spans.append(match.span())
        if spans:
            found[signal.name] = sorted(spans, key=lambda span: span[0])
    return found


def _spans(matcher: SignalMatcher, text: str) -> dict[str, list[tuple[int, int]]]:
    return {name: [(s.start, s.end) for s in spans] for name, spans in matcher.spans(text).items()}


EDGE_SOURCE = r"""
negation:
  window: 2
  words:
    en: ["no", not, "isn't"]
signals:
  beta:
    description: a phrase that starts with punctuation is scanned, not looked up
    phrases:
      en: [(beta) build, app crash, app]
  timing:
    description: patterns that start with a digit are looked up at the words that start with one
    patterns: ['\d+\s*(?:s|min)', '(?:[2-9]\d|\d{3,})\s*sec']
  stamp:
    description: a pattern that may start with a digit or a letter is scanned
    patterns: ['(?:\d|x)\d\s*ms']
  stems:
    description: stems, apostrophes, hyphens and patterns that start with words
    phrases:
      en: [nefung*, "can't log in", e-mail, log in, app crash*, crash* report, pre-prod*, "y'all'd go", "x'y z"]
    patterns: ['(?:nobody|no one)(?:\s+\w+){0,2}\s+can', 'returns?\s+50[03]', 'it''s\s+down']
  asks:
    description: patterns whose first word needs the next word ("na koho", "by hand"), or not ("how")
    patterns: ['(?:how|na koho|je\s+(?:to\s+)?mozne)\s[^.!?\n]{0,20}\?', '(?:rucne|by hand)[^.!?\n]{0,20}?nie']
rules: []
"""
_EDGE_BOOK = parse_rulebook(EDGE_SOURCE, "edge.yaml")
_EDGE_MATCHER = SignalMatcher(_EDGE_BOOK)
_BUNDLED_BOOK = load_rulebook(default_rules_path())
_EDGE_WORDS = [
    "(beta)", "build", "app", "App", "crash", "crashes", "nefunguje", "NEFUNG", "can't", "can’t", "cant", "log",
    "in", "e-mail", "email", "nobody", "no", "one", "can", "returns", "return", "500", "503", "it's", "its", "down",
    "isn't", "not", "45", "3min", "s", "min", "x", "(", ")", "-", ",", ".",
    # words with inner punctuation: a text's word then the next must spell them out
    "report", "reports", "pre-prod", "pre-production", "pre", "prod", "y'all'd", "yall'd", "y'alld", "y'all",
    "y", "all", "d", "go", "x'y", "xy", "z",
    # pattern starts that need the next word
    "na", "koho", "kohokoli", "je", "to", "mozne", "moznex", "how", "by", "hand", "handy", "rucne", "nie", "?", "'s",
    # digits: Unicode decimal digits (Arabic-Indic) are `\d`, superscripts are word characters but not `\d`
    "1", "25", "300", "sec", "ms", "x5", "5x", "_45", "4_5", "\u0664\u0665", "\u00b2", "\u00b25", "30-50", "2\u00bd",
]  # fmt: skip
_SEPARATORS = st.sampled_from([" ", "  ", "\n", " - ", "-", ", ", ". ", "'", "\t", ""])


def _texts(words: list[str]) -> st.SearchStrategy[str]:
    pieces = st.tuples(st.sampled_from(words), _SEPARATORS).map("".join)
    return st.lists(pieces, max_size=40).map("".join)


def _words_the_filter_misses(matcher: SignalMatcher, text: str) -> list[str]:
    """The words at which the index finds something to try but which its word filter does not visit."""
    folded = fold(text)
    visited = {word.start() for word in matcher._starts.finditer(folded)}
    words = list(re.finditer(r"\w+", folded))
    missed = []
    for position, word in enumerate(words):
        hits = matcher._hits(word.group())
        if hits.pending:
            following = words[position + 1].group() if position + 1 < len(words) else ""
            hits = matcher._pair_hits(word.group(), following, hits)
        if hits.tries and word.start() not in visited:
            missed.append(word.group())
    return missed


@settings(max_examples=300, deadline=None)
@given(_texts(_EDGE_WORDS))
def test_index_finds_what_a_scan_finds_on_edge_cases(text: str) -> None:
    assert _spans(_EDGE_MATCHER, text) == _reference_spans(_EDGE_BOOK, text)
    assert _words_the_filter_misses(_EDGE_MATCHER, text) == []


@settings(max_examples=300, deadline=None)
@given(
    _texts(
        [
            *_vocabulary(),
            *_BUNDLED_BOOK.negation.words,
            *["NEFUNGOVALO", "Výpadok", "returns", "http", "takes", "45", "5", "120", "30-50", "seconds", "s", "min"],
            *["minuty", "sekund", "\u0664\u0665", "\u00b25", "x30", "30x", "2\u00bd"],
        ]
    )
)
def test_index_finds_what_a_scan_finds_with_the_bundled_rules(text: str) -> None:
    assert _spans(BUNDLED_MATCHER, text) == _reference_spans(_BUNDLED_BOOK, text)
    assert _words_the_filter_misses(BUNDLED_MATCHER, text) == []


@pytest.mark.parametrize(
    "text",
    [
        "it takes 45 s, then 3min",
        "\u0664\u0665 s and \u0663min",  # Arabic-Indic digits are `\\d` too
        "\u00b25 s, \u00b2 min, 2\u00bd min, 2 min",  # a superscript or a fraction glued to a digit is one word
        "x45 s 5x min _45 s 4_5 min 45 s",  # a word that only has a digit inside
        "30-50 sec, 300sec, 25 sec, 15 sec",
        "no 45 s here, not 3 min, 4 min",  # negated
        "1 s 2 s 3 s 4 s 5 s",  # at most three
        "x5 ms, 55 ms, 5x5 ms",
    ],
)
def test_index_finds_what_a_scan_finds_on_digits(text: str) -> None:
    found = _spans(_EDGE_MATCHER, text)
    assert found == _reference_spans(_EDGE_BOOK, text)
    assert found  # each text has something to find, so a lost match shows
    assert _words_the_filter_misses(_EDGE_MATCHER, text) == []


@pytest.mark.parametrize(
    "text",
    [
        "by handy tools, nie",  # the next word only starts with "hand"
        "by hand nie, by  hand nie",
        "na koho sa obratit? na kohokoli? na\nkoho ist?",
        "je to mozne aj dnes? je mozne to? je moznex?",
        "it's down, it's  down, it'sdown",
        "no, na koho? not na koho? how come?",  # negated
    ],
)
def test_index_finds_what_a_scan_finds_where_a_pattern_needs_the_next_word(text: str) -> None:
    found = _spans(_EDGE_MATCHER, text)
    assert found == _reference_spans(_EDGE_BOOK, text)
    assert found
    assert _words_the_filter_misses(_EDGE_MATCHER, text) == []


def test_every_bundled_phrase_written_out_is_found_as_a_scan_finds_it() -> None:
    # Each phrase alone and after another phrase's words: every first word and each next word it needs.
    phrases = [p.text.replace("*", "ovalo") for s in _BUNDLED_BOOK.signals.values() for p in s.phrases]
    texts = [*phrases, *(f"{a} {b}" for a, b in itertools.pairwise(phrases))]
    assert [t for t in texts if _words_the_filter_misses(BUNDLED_MATCHER, t)] == []
    assert [t for t in texts if _spans(BUNDLED_MATCHER, t) != _reference_spans(_BUNDLED_BOOK, t)] == []


def _shipped_requests() -> list[tuple[str, str]]:
    root = Path(__file__).resolve().parents[2]
    rows: list[tuple[str, str]] = []
    for path in sorted([*root.glob("data/corpus/*/*.jsonl"), *root.glob("examples/*.jsonl")]):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                rows.append((str(record.get("subject") or ""), str(record.get("body") or "")))
    return rows


def test_index_finds_what_a_scan_finds_on_the_corpus() -> None:
    requests = _shipped_requests()
    assert len(requests) > 2_000
    differ = [
        (subject, body)
        for subject, body in requests
        if _spans(BUNDLED_MATCHER, text := new_message_text(subject, body)) != _reference_spans(_BUNDLED_BOOK, text)
    ]
    assert differ == []
    assert [m for s, b in requests if (m := _words_the_filter_misses(BUNDLED_MATCHER, new_message_text(s, b)))] == []


@pytest.mark.parametrize(
    ("pattern", "starts"),
    [
        ("error 500", [("error", True)]),
        ("(?:http|error)\\s+50[03]", [("http", True), ("error", True)]),
        ("returns?\\s+5", [("return", False)]),
        ("nefung\\w*", [("nefung", False)]),
        ("it's down", [("it", True)]),
        ("(?:nobody|no one)(?:\\s+\\w+){0,2}", [("nobody", False), ("no", True)]),  # the word may go on
        ("e\\d{3}", [("e", False)]),
        ("(ab|cd)e", [("abe", True), ("cde", True)]),  # a capturing group
        ("(a|b)c", None),  # one-letter alternatives become a class: scanned
        ("ab(?=c)", [("ab", False)]),
        ("\\d+\\s*min", None),  # starts with a digit class
        ("[ab]c", None),
        ("(?i)error", None),  # flags: scanned
        ("x?error", None),  # an optional start
        ("\\(beta\\)", None),  # punctuation
    ],
)
def test_literal_starts(pattern: str, starts: list[tuple[str, bool]] | None) -> None:
    found = _literal_starts(pattern)
    assert (None if found is None else list(found)) == starts


@pytest.mark.parametrize(
    ("pattern", "starts"),
    [
        ("error 500", [("error", True, (("500", True),))]),
        ("(?:http|error)\\s+50[03]", [("http", True, (("50", False),)), ("error", True, (("50", False),))]),
        ("(?:how|na koho)\\s[^.!?\\n]{0,80}\\?", [("how", True, ()), ("na", True, (("koho", True),))]),
        ("(?:je\\s+mozne|je\\s+to\\s+mozne)\\s", [("je", True, (("mozne", True), ("to", True)))]),
        ("(?:rucne|by hand)[^.]{0,9}x", [("rucne", False, ()), ("by", True, (("hand", False),))]),  # "handy"
        ("(?:na koho|na)\\s+x", [("na", True, (("koho", True), ("x", True)))]),
        ("(?:na koho|na[ ,])", [("na", True, ())]),  # one way needs no particular next word: none is asked
        ("it's down", [("it", True, (("s", True),))]),
        ("a - b\\w*", [("a", True, (("b", False),))]),  # spaces and a hyphen: all non-word
        ("a\\s*b", [("a", False, ())]),  # "ab" is one word
        ("a\\s+\\s*b", [("a", True, (("b", True),))]),
        ("a\\s+_b", [("a", True, (("_b", True),))]),  # an underscore is a word character
        ("a\\s+(?:\\w+\\s+)?b", [("a", True, ())]),  # the next word is any word
        ("a\\s+", [("a", True, ())]),  # nothing after the separator
        ("a\\s+\\d", [("a", True, ())]),  # the next word starts with a digit: not worked out
    ],
)
def test_pattern_starts_need_the_next_word_only_when_every_way_names_it(
    pattern: str, starts: list[tuple[str, bool, tuple[tuple[str, bool], ...]]]
) -> None:
    found = _pattern_starts(pattern)
    assert found is not None and list(found) == starts


@pytest.mark.parametrize(
    ("pattern", "digit"),
    [
        ("\\d+\\s*min", True),
        ("(?:[2-9]\\d|\\d{3,})\\s*(?:-\\s*\\d+\\s*)?s", True),
        ("(?:\\d+s)|(?:[0-9]{2}m)", True),
        ("(4|5)0", True),  # a capturing group
        ("7", True),
        ("\\d?x", False),  # an optional digit
        ("\\d*", False),
        ("(?:\\d|x)\\d", False),  # one alternative starts with a letter
        ("[0-9a]", False),
        ("[0-:]", False),  # the range goes past the digits
        ("\\D", False),
        ("[^\\D]", False),  # a negated class is not worked out
        ("\\w", False),
        ("\u00b2", False),  # a superscript is a word character but not a digit
        ("(?i)\\d", False),  # flags: scanned
        ("(?=\\d)\\w", False),
        ("", False),
    ],
)
def test_digit_start(pattern: str, digit: bool) -> None:
    assert _digit_start(pattern) is digit


def test_the_bundled_rules_scan_no_signal_in_every_text() -> None:
    # slow_blocking's patterns start with a digit: they are tried only at the words that start with one.
    assert BUNDLED_MATCHER._scanned == frozenset()


@pytest.mark.parametrize(
    ("first", "starts"),
    [
        ("app", [("app", True, True, ())]),
        ("nefung*", [("nefung", False, True, ())]),
        ("can't", [("can", True, False, (("t", True),)), ("cant", True, True, ())]),  # "can" then "t", or "cant"
        ("e-mail", [("e", True, False, (("mail", True),))]),
        ("pre-prod*", [("pre", True, False, (("prod", False),))]),  # the stem's last run is a prefix
        ("y'all'd", [
            ("y", True, False, (("all", True), ("alld", True))), ("yall", True, False, (("d", True),)),
            ("yalld", True, True, ()),
        ]),
        ("c++", [("c", True, False, ())]),  # nothing more to ask of the next word
    ],
)  # fmt: skip
def test_word_starts(first: str, starts: list[tuple[str, bool, bool, tuple[tuple[str, bool], ...]]]) -> None:
    assert _word_starts(first) == starts
