"""The policy's support scope and missing details: read from the text, validated in the rule file, never a severity."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.errors import ConfigError
from sevtriage.resources import default_rules_path
from sevtriage.rules.rulebook import load_rulebook, parse_rulebook
from sevtriage.rules.scope import ScopeReader
from sevtriage.rules.stage import RuleStage
from sevtriage.text import new_message_text
from sevtriage.types import Ticket

POLICY = Path("/work/shared/seed/support-policy.txt")
DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def stage() -> RuleStage:
    return RuleStage.load(engine="python")


def _read(stage: RuleStage, text: str, subject: str = "") -> tuple[list[tuple[str, tuple[str, ...]]], list[str]]:
    found = stage.scope_of(Ticket(id="t", subject=subject, body=text))
    return [(n.kind, n.evidence) for n in found.notes], list(found.missing)


@pytest.mark.parametrize(
    ("text", "evidence"),
    [
        ("Samsung J5 with Android 6.0, the app closes when I clock in.", "Android 6.0"),
        ("Aplikácia padá na Androide 7, ostatným ide.", "Androide 7"),
        ("Na telefonu s Android verze 5.1.1 nejde přihlášení.", "Android verze 5.1.1"),
        ("The report is empty in IE 11.", "IE 11"),
        ("Reporty sa v Chrome 49 nezobrazujú.", "Chrome 49"),
        ("We still use Internet Explorer at the reception.", "Internet Explorer"),
    ],
)
def test_uncertified_environments_are_noted_with_their_evidence(stage: RuleStage, text: str, evidence: str) -> None:
    notes, _ = _read(stage, text)
    assert ("uncertified_environment", (evidence,)) in notes


@pytest.mark.parametrize(
    "text",
    [
        "The app crashes on Android 13 since Monday.",
        "In Chrome 120 the calendar is empty.",
        "Firefox 128 shows the page fine.",
        "We have 12 phones with Android and 6 tablets.",  # no version: nothing to judge
        "The edge of the table is cut off in the PDF.",  # 'edge' without a version is no browser
        # No Android release has a two-digit minor version: this is the app's version 4.14 (SK-M-0130).
        "Novy user v tíme + Android 4.14 Google prihlasenie",
        # Phones named after a browser: the Motorola Edge 40 and the Galaxy S7 Edge (SK-M-0119).
        "Telefón: Motorola Edge 40, aplikácia ho odhlasuje.",
        "On a Samsung Galaxy S7 Edge 32 GB the app closes.",
    ],
)
def test_certified_or_unknown_environments_get_no_note(stage: RuleStage, text: str) -> None:
    notes, _ = _read(stage, text)
    assert [kind for kind, _ in notes if kind == "uncertified_environment"] == []


def test_altered_software_and_third_party_are_noted(stage: RuleStage) -> None:
    notes, _ = _read(stage, "We run a modified version of the app and sync through Zapier.")
    kinds = dict(notes)
    assert kinds["altered_software"] == ("modified version",)
    assert kinds["third_party"] == ("Zapier",)
    notes, _ = _read(stage, "Používame upravenú verziu aplikácie a doplnok tretej strany.")
    assert {kind for kind, _ in notes} == {"altered_software", "third_party"}


def test_every_note_quotes_a_line_of_the_support_policy(stage: RuleStage) -> None:
    found = stage.scope_of(
        Ticket(id="t", body="IE 11 and Android 6 with a modified version and a plugin from a third party.")
    )
    assert {n.kind for n in found.notes} == {"uncertified_environment", "altered_software", "third_party"}
    if POLICY.is_file():
        policy = " ".join(POLICY.read_text(encoding="utf-8").split())
        for note in found.notes:
            # The third-party note names its heading before the policy's sentence.
            assert note.policy.split(": ", 1)[-1] in policy


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        # about the web client, nothing else said: everything is missing
        (
            "The report page in the browser is blank.",
            ["browser_version", "recent_changes", "workaround", "steps_taken"],
        ),
        # the version is given; a workaround and steps too
        (
            "In Chrome 120 the report is blank. We tried another browser, same thing. As a workaround we export CSV. "
            "Nothing changed on our side.",
            [],
        ),
        # Android client, no version; Slovak without diacritics
        (
            "Mobilna aplikacia na Androide pada. Skusali sme ju preinstalovat, po aktualizacii to zacalo.",
            ["android_version", "workaround"],
        ),
        # a usage question is not an incident: nothing is asked of it
        ("Jak nastavím víkendové příplatky v prohlížeči?", []),
        # Czech with diacritics; not about a client, so no version is asked for
        ("Export mezd končí chybou. Nic jsme neměnili, zkusili jsme to znovu. Jiné řešení nemáme.", []),
    ],
)
def test_missing_details_per_language(stage: RuleStage, text: str, missing: list[str]) -> None:
    _, found = _read(stage, text)
    assert found == missing


def test_scope_never_changes_a_verdict(stage: RuleStage) -> None:
    without = RuleStage(replace(stage.book, scope=None), engine="python")
    tickets = []
    for path in sorted((DATA / "corpus" / "en").glob("*.jsonl"))[:2]:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            tickets.append(Ticket(id=row["id"], subject=row.get("subject", ""), body=row.get("body", "")))
    with_scope = stage.evaluate_many(tickets)
    plain = without.evaluate_many(tickets)
    assert any(v.scope or v.missing_details for v in with_scope)
    assert [(v.severity, v.confident, v.matches) for v in with_scope] == [
        (v.severity, v.confident, v.matches) for v in plain
    ]
    assert all(not v.scope and not v.missing_details for v in plain)


def _with_scope(scope: str) -> str:
    source = default_rules_path().read_text(encoding="utf-8")
    start = source.index("\nscope:\n")
    end = source.index("\nrules:\n")
    return source[:start] + "\n" + scope + source[end:]


def _problems(source: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_rulebook(source, "r.yaml")
    return [str(p) for p in caught.value.problems]


def _line_of(source: str, needle: str) -> int:
    return source.splitlines().index(needle) + 1


def test_a_malformed_scope_section_gets_file_line_errors() -> None:
    scope = (
        "scope:\n"
        "  uncertified_environment:\n"
        "    policy: Old phones are not certified.\n"
        "    android_min: eight\n"
        "    browsers:\n"
        "      chrome: {min: new, names: [chrome]}\n"
        "  third_party:\n"
        "    policy: Plug-ins.\n"
        "    signals: [third_partyy]\n"
        "  detials: {}\n"
    )
    source = _with_scope(scope)
    problems = _problems(source)
    assert (
        f"r.yaml:{_line_of(source, '    android_min: eight')}: 'scope: uncertified_environment': android_min must "
        "be an Android version number such as 8 or 8.1; got 'eight'"
    ) in problems
    assert (
        f"r.yaml:{_line_of(source, '      chrome: {min: new, names: [chrome]}')}: browser 'chrome': min must be the "
        "oldest certified major version (a whole number such as 109) or 'unsupported'; got 'new'"
    ) in problems
    assert (
        f"r.yaml:{_line_of(source, '    signals: [third_partyy]')}: 'scope: third_party' signals: signal "
        "'third_partyy' is not defined (did you mean 'third_party'?); define it under 'signals' first"
    ) in problems
    assert any(
        p.startswith(f"r.yaml:{_line_of(source, '  detials: {}')}: unknown key 'detials' in 'scope'") for p in problems
    )


def test_the_bundled_scope_loads() -> None:
    scope = load_rulebook(default_rules_path()).scope
    assert scope is not None
    assert scope.android_min == 8
    assert {b.key for b in scope.browsers} >= {"chrome", "firefox", "internet_explorer"}
    assert scope.details is not None and scope.details.workaround == (
        "workaround",
        "no_workaround",
        "no_workaround_said",
    )


# Browser and Android wording glued to other words, digits and punctuation: where the word check could go wrong.
_SCOPE_WORDS = [
    "chrome",
    "Chromium",
    "google",
    "Google Chrome",
    "firefox",
    "Mozilla",
    "edge",
    "Microsoft-Edge",
    "safari",
    "internet",
    "Explorer",
    "IE",
    "ie",
    "msie",
    "android",
    "Androidu",
    "ANDROIDE",
    "version",
    "verzia",
    "v.",
    "v",
    "7",
    "49",
    "109",
    "6.0",
    "5.1.1",
    "12GB",
    "11",
    "ie8",
    "xie",
    "nie",
    "pie",
    "the",
    "app",
    "crashes",
]
# Built once: loading the rule file for each of the 400 drawn texts cost most of a minute.
_BUNDLED_SCOPE = load_rulebook(default_rules_path()).scope
_BUNDLED_READERS = (ScopeReader(_BUNDLED_SCOPE), ScopeReader(_BUNDLED_SCOPE, word_check=False))
_GLUE = st.sampled_from([" ", "", "-", ".", "\n", ", ", "(", ")", "'", "_", "1"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_SCOPE_WORDS), _GLUE).map("".join), max_size=12).map("".join))
def test_the_word_check_finds_what_scanning_every_text_finds(text: str) -> None:
    checking, scanning = _BUNDLED_READERS
    assert checking.read(text, {}) == scanning.read(text, {})


def test_the_word_check_changes_nothing_on_the_corpus(stage: RuleStage) -> None:
    scanning = ScopeReader(stage.book.scope, word_check=False)
    noted = 0
    for path in sorted(DATA.glob("*/**/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            ticket = Ticket(id="t", subject=row.get("subject") or "", body=row.get("body") or "")
            found = stage.scope_of(ticket)
            evidence = stage.facts(ticket).evidence
            assert found == scanning.read(new_message_text(ticket.subject, ticket.body), evidence)
            noted += bool(found.notes)
    assert noted > 10  # the corpus does name old browsers and Android versions


_SIGNAL_NAMES = sorted(load_rulebook(default_rules_path()).signals)
_LOOKING_EVERYWHERE = ScopeReader(_BUNDLED_SCOPE, word_check=False, evidence_check=False)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_SCOPE_WORDS), _GLUE).map("".join), max_size=8).map("".join),
    st.dictionaries(
        st.sampled_from([*_SIGNAL_NAMES, "unknown_signal"]),
        st.lists(st.sampled_from(["IE 11", "plugin", "restarted", "Chrome 49", "x"]), max_size=2).map(tuple),
        max_size=4,
    ),
)
def test_the_evidence_check_gives_what_looking_up_every_signal_gives(
    text: str, evidence: dict[str, tuple[str, ...]]
) -> None:
    # Evidence naming no scope signal, or one with nothing in it, must read as the plain lookups read it.
    assert _BUNDLED_READERS[0].read(text, evidence) == _LOOKING_EVERYWHERE.read(text, evidence)


def test_the_evidence_check_changes_nothing_on_the_corpus(stage: RuleStage) -> None:
    texts = [
        new_message_text(row.get("subject") or "", row.get("body") or "")
        for path in sorted(DATA.glob("corpus/**/*.jsonl"))
        for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())
    ]
    found = [stage.matcher.facts(text, {}).evidence for text in texts]
    asked = {name for name in _SIGNAL_NAMES if _LOOKING_EVERYWHERE.read("", {name: ("x",)}) != _NO_EVIDENCE}
    without = sum(asked.isdisjoint(evidence) for evidence in found)
    assert 100 < without < len(texts) - 100  # both paths are taken
    for text, evidence in zip(texts, found, strict=True):
        assert stage.scope_reader.read(text, evidence) == _LOOKING_EVERYWHERE.read(text, evidence)


_NO_EVIDENCE = _LOOKING_EVERYWHERE.read("", {})
