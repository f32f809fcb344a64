"""Loading, validating and compiling the rule file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sevtriage.errors import ConfigError
from sevtriage.resources import default_rules_path
from sevtriage.rules.rulebook import (
    Condition,
    FieldTest,
    compile_condition,
    compile_rulebook,
    load_rulebook,
    parse_rulebook,
)
from sevtriage.types import Severity

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rules"


def _problems(source: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_rulebook(source, "r.yaml")
    return [str(p) for p in caught.value.problems]


def test_bundled_rules_load_with_lines_and_enough_examples() -> None:
    book = load_rulebook(default_rules_path())
    assert len(book.rules) >= 15
    examples = list(book.all_examples())
    assert len(examples) >= 60
    # Every rule keeps the line of its "- id:" entry.
    text = default_rules_path().read_text(encoding="utf-8").splitlines()
    for rule in book.rules:
        assert text[rule.line - 1].strip() == f"- id: {rule.id}"
    assert {r.severity for r in book.rules} == {Severity(1), Severity(2), Severity(3), Severity(4)}


def test_minimal_fixture_parses_every_part() -> None:
    book = load_rulebook(FIXTURES / "minimal.yaml")
    assert [r.id for r in book.rules] == ["down", "down-on-test", "question"]
    assert book.negation.words == frozenset({"no", "not"})
    assert book.signals["test_env"].fields == {"environment": ("staging",)}
    assert book.rules[2].strength == "weak"
    assert book.rules[2].examples[0].expect is None
    assert book.version.startswith("minimal.yaml@") and len(book.version.split("@")[1]) == 12
    assert book.field_names() == ("environment",)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("bad_yaml.yaml", ["bad_yaml.yaml:7:", "not valid YAML", "expected ',' or ']'"]),
        (
            "unknown_key.yaml",
            [
                "unknown_key.yaml:9:",
                "[rule down]",
                "unknown key 'sevrity'",
                "did you mean 'severity'",
                "allowed keys: id, severity, strength, explanation, when, examples",
            ],
        ),
        ("duplicate_id.yaml", ["duplicate_id.yaml:16:", "[rule down]", "duplicate rule id 'down' (first on line 8)"]),
        (
            "severity_5.yaml",
            ["severity_5.yaml:9:", "[rule down]", "severity must be one of 1, 2, 3, 4", "got 5"],
        ),
        (
            "undefined_signal.yaml",
            [
                "undefined_signal.yaml:12:",
                "[rule down]",
                "signal 'donw' is not defined",
                "did you mean 'down'",
                "use one of: down",
            ],
        ),
        (
            "bad_pattern.yaml",
            [
                "bad_pattern.yaml:6:",
                "signal 'down'",
                "pattern 'app (is|was down' does not compile",
                "missing )",
                "Python regular expression",
            ],
        ),
    ],
)
def test_broken_files_name_file_line_rule_and_what_is_allowed(fixture: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_rulebook(FIXTURES / fixture)
    assert len(caught.value.problems) == 1, caught.value.problems
    message = str(caught.value.problems[0])
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("strength: mighty", "strength must be one of strong, weak; got 'mighty'"),
        ("when: {none: [down]}", "'when' needs at least one signal under 'all' or 'any'"),
        ("when: {all: down}", "'when: all' must be a list"),
        ("when: {all: [{field: environment}]}", "a field test needs 'field'"),
        ("when: {all: [{field: environment, in: []}]}", "field 'environment' needs at least one value"),
    ],
)
def test_rule_level_problems(snippet: str, expected: str) -> None:
    key = snippet.split(":")[0]
    defaults = {"strength": "strength: strong", "when": "when: {all: [down]}"}
    defaults[key] = snippet
    source = (
        "signals:\n  down:\n    description: d\n    phrases: {en: [app is down]}\n"
        "rules:\n  - id: r1\n    severity: 1\n    explanation: e\n"
        f"    {defaults['strength']}\n    {defaults['when']}\n"
        "    examples: [{text: app is down, expect: 1}]\n"
    )
    problems = _problems(source)
    assert any(expected in p and "[rule r1]" in p for p in problems), problems


@pytest.mark.parametrize(
    ("signals", "expected"),
    [
        ("  down:\n    description: d\n    phrases: {de: [kaputt]}\n", "language must be one of en, sk, cs; got 'de'"),
        ("  down:\n    description: d\n    phrases: {en: [ne*fung]}\n", "'*' is allowed only at the end of a word"),
        ("  down:\n    description: d\n", "has nothing to match"),
        ("  Down:\n    description: d\n    phrases: {en: [x]}\n", "signal name must be lower-case"),
        (
            "  down:\n    description: d\n    phrases: {en: [x]}\n    negatable: maybe\n",
            "negatable must be true or false",
        ),
    ],
)
def test_signal_level_problems(signals: str, expected: str) -> None:
    source = f"signals:\n{signals}rules: []\n"
    problems = _problems(source)
    assert any(expected in p for p in problems), problems


def test_bare_no_in_yaml_gets_a_quoting_hint() -> None:
    source = (
        "negation:\n  words:\n    en: [no]\nsignals:\n  d:\n    description: d\n    phrases: {en: [x]}\nrules: []\n"
    )
    problems = _problems(source)
    assert any("r.yaml:3:" in p and 'put the word in quotes, e.g. "no"' in p for p in problems), problems


def test_duplicate_yaml_keys_and_missing_sections_are_reported() -> None:
    problems = _problems("signals:\n  a:\n    description: d\n    description: e\n    phrases: {en: [x]}\n")
    assert any("r.yaml:4:" in p and "duplicate key 'description' (first on line 3)" in p for p in problems)
    assert any("needs a 'rules' section" in p for p in problems)


def test_empty_file_is_a_config_error() -> None:
    assert _problems("") == ["r.yaml: the rule file is empty; it needs 'signals' and 'rules'"]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rule file not found"):
        load_rulebook(tmp_path / "nope.yaml")


def test_compile_condition_uses_only_equality_and_boolean_operators() -> None:
    when = Condition(
        all=("a", FieldTest("environment", ("test", "staging"), 1)),
        any=("b", "c"),
        none=("d", FieldTest("plan", ("premier",), 2)),
    )
    assert compile_condition(when) == {
        "$and": [
            {"t": "request"},
            {"s_a": 1},
            {"$or": [{"f_environment": "test"}, {"f_environment": "staging"}]},
            {"$or": [{"s_b": 1}, {"s_c": 1}]},
            {"$neq": {"s_d": 1}},
            {"$neq": {"f_plan": "premier"}},
        ]
    }


def test_compiled_ruleset_never_uses_durable_regex_operators() -> None:
    # durable-rules' regex dialect silently misses \b, ^, $, \d and non-ASCII words: text matching stays in Python.
    compiled = compile_rulebook(load_rulebook(default_rules_path()))
    assert "$mt" not in repr(compiled.rules) and "$imt" not in repr(compiled.rules)


def test_ruleset_name_follows_content() -> None:
    base = load_rulebook(FIXTURES / "minimal.yaml")
    source = (FIXTURES / "minimal.yaml").read_text(encoding="utf-8")
    same = parse_rulebook(source, "elsewhere.yaml")
    changed = parse_rulebook(source.replace("severity: 3", "severity: 2"), "minimal.yaml")
    assert compile_rulebook(base).name == compile_rulebook(same).name
    # Changing a severity alone keeps the conditions: the ruleset (engine side) is the same, the version is not.
    assert base.version != changed.version
    reworded = parse_rulebook(source.replace("all: [down, test_env]", "all: [down]\n      any: [test_env]"), "m.yaml")
    assert compile_rulebook(base).name != compile_rulebook(reworded).name


def test_fact_carries_every_signal_and_field() -> None:
    compiled = compile_rulebook(load_rulebook(FIXTURES / "minimal.yaml"))
    fact = compiled.fact(frozenset({"down"}), {"environment": "staging"})
    assert fact == {"t": "request", "s_down": 1, "s_question": 0, "s_test_env": 0, "f_environment": "staging"}


@pytest.mark.parametrize(
    ("policy_line", "severity"),
    [
        ("Service not available", 1),
        ("Critical functionality not available", 1),
        ("Production data at risk of loss or corruption", 1),
        ("Business operations halted", 1),
        ("Critical functionality not available", 2),
        ("Serious performance issues affecting business operations", 2),
        ("Non-critical loss of software functionality", 3),
        ("Usage questions", 4),
        ("Suggestion of future enhancement", 4),
        ("Minor loss of application functionality", 4),
    ],
)
def test_every_line_of_the_policy_definitions_has_a_rule(policy_line: str, severity: int) -> None:
    # The support policy's severity definitions (shared/seed/support-policy.txt), each quoted by a rule.
    book = load_rulebook(default_rules_path())
    quoting = [r.id for r in book.rules if f'Policy "{policy_line}"' in r.explanation and r.severity == severity]
    assert quoting, f"no severity {severity} rule quotes the policy line {policy_line!r}"


def test_a_rules_fingerprint_follows_what_decides_when_it_fires() -> None:
    source = (FIXTURES / "minimal.yaml").read_text(encoding="utf-8")
    base = parse_rulebook(source, "minimal.yaml").fingerprints()
    assert set(base) == {"down", "down-on-test", "question"}
    # Wording that does not decide anything (explanations, examples, the file's name) keeps every fingerprint.
    reworded = parse_rulebook(
        source.replace("explanation: The app is down.", "explanation: Nothing works.").replace(
            "text: How do I add a user?", "text: How do I add a team?"
        ),
        "other.yaml",
    ).fingerprints()
    assert reworded == base
    # A phrase of a signal changes the rules that read it, and only those.
    phrase = parse_rulebook(source.replace("[how do i]", "[how do i, how can i]"), "minimal.yaml").fingerprints()
    assert phrase["question"] != base["question"]
    assert (phrase["down"], phrase["down-on-test"]) == (base["down"], base["down-on-test"])
    # So do a rule's severity and its conditions, including the signals it must not see.
    severity = parse_rulebook(source.replace("severity: 3", "severity: 2"), "minimal.yaml").fingerprints()
    assert severity["down-on-test"] != base["down-on-test"] and severity["down"] == base["down"]
    test_env = parse_rulebook(source.replace("[test server]", "[test server, sandbox]"), "minimal.yaml").fingerprints()
    assert test_env["down"] != base["down"] and test_env["question"] == base["question"]
