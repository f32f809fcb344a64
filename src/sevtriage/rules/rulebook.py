"""The severity rule file: load the YAML, validate every node, and compile the rules for the engines.

Pure apart from reading the file in `load_rulebook`: parsing works on text, so tests and `rules check`
see the same messages. Every record keeps the line it came from, so a problem found later (an
example the rules get wrong, say) can still point at the file and line a support lead should edit.

The compiled form is a durable-rules ruleset condition per rule (JSON-ready dicts over a flat fact of
signal flags and request fields). Both evaluators read that same compiled form: `engine_durable`
hands it to durable-rules, `engine_python` interprets it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sevtriage import yaml_text
from sevtriage.errors import ConfigError, Problem
from sevtriage.text import fold
from sevtriage.types import Severity

LANGUAGES = ("en", "sk", "cs")
STRENGTHS = ("strong", "weak")
ABSTAIN = "abstain"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

_TOP_KEYS = ("version", "negation", "signals", "scope", "rules", "examples")
_SCOPE_KEYS = ("uncertified_environment", "altered_software", "third_party", "details")
_ENVIRONMENT_KEYS = ("policy", "android_min", "browsers")
_BROWSER_KEYS = ("min", "names")
_SIGNAL_NOTE_KEYS = ("policy", "signals")
_DETAILS_KEYS = ("policy", "web_client", "android_client", "recent_changes", "workaround", "steps_taken", "not_for")
UNSUPPORTED = "unsupported"
_NEGATION_KEYS = ("window", "words")
_SIGNAL_KEYS = ("description", "phrases", "patterns", "fields", "negatable")
_RULE_KEYS = ("id", "severity", "strength", "explanation", "when", "examples")
_WHEN_KEYS = ("all", "any", "none")
_FIELD_TEST_KEYS = ("field", "in")
_EXAMPLE_KEYS = ("text", "subject", "fields", "expect")

Strength = Literal["strong", "weak"]

# Keys of the flat fact handed to the engines. Prefixes keep signal and field names apart.
SIGNAL_PREFIX = "s_"
FIELD_PREFIX = "f_"
FACT_TYPE_KEY = "t"
FACT_TYPE = "request"


# --- records -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phrase:
    """One phrase of a signal as written, in one language (`*` ends a word stem)."""

    text: str
    lang: str
    line: int


@dataclass(frozen=True, slots=True)
class Pattern:
    """A raw Python regular expression applied to folded text."""

    regex: str
    line: int


@dataclass(frozen=True, slots=True)
class Signal:
    """A named fact about a request: phrases found in its text, or a request field with given values."""

    name: str
    description: str
    phrases: tuple[Phrase, ...]
    patterns: tuple[Pattern, ...]
    fields: Mapping[str, tuple[str, ...]]
    negatable: bool
    line: int


@dataclass(frozen=True, slots=True)
class FieldTest:
    """True when a request field (folded) is one of `values`."""

    field: str
    values: tuple[str, ...]
    line: int


Term = str | FieldTest


@dataclass(frozen=True, slots=True)
class Condition:
    """All of `all`, at least one of `any` (when given), none of `none`."""

    all: tuple[Term, ...] = ()
    any: tuple[Term, ...] = ()
    none: tuple[Term, ...] = ()


@dataclass(frozen=True, slots=True)
class Example:
    """A request written in the rule file with the severity the rules must give (None = abstain)."""

    text: str
    subject: str
    fields: Mapping[str, str]
    expect: Severity | None
    line: int
    rule_id: str | None


@dataclass(frozen=True, slots=True)
class Rule:
    """One severity rule."""

    id: str
    severity: Severity
    strength: Strength
    explanation: str
    when: Condition
    examples: tuple[Example, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Negation:
    """Words that, shortly before a phrase in the same sentence, cancel it ("no data was lost")."""

    window: int
    words: frozenset[str]


@dataclass(frozen=True, slots=True)
class Browser:
    """A browser the policy names: the names customers write, and the oldest certified major version.

    `minimum` None means no version of it is certified (Internet Explorer, say).
    """

    key: str
    names: tuple[str, ...]
    minimum: int | None
    line: int


@dataclass(frozen=True, slots=True)
class SignalNote:
    """A "we don't support" kind found through signals, with the policy text a note quotes."""

    policy: str
    signals: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class DetailsSpec:
    """What "Speed up the troubleshooting" asks for: the signals that show each item is present.

    `web_client` and `android_client` say what the request is about; only then is the browser or
    Android version asked for.
    """

    policy: str
    web_client: tuple[str, ...]
    android_client: tuple[str, ...]
    recent_changes: tuple[str, ...]
    workaround: tuple[str, ...]
    steps_taken: tuple[str, ...]
    # Requests with one of these signals (a usage question, a suggestion) are not incidents: nothing is asked.
    not_for: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scope:
    """The rule file's `scope` section: the policy's "We don't support" and "Speed up the troubleshooting"."""

    environment_policy: str
    android_min: float | None
    browsers: tuple[Browser, ...]
    altered_software: SignalNote | None
    third_party: SignalNote | None
    details: DetailsSpec | None
    line: int


@dataclass(frozen=True, slots=True)
class Rulebook:
    """A validated rule file."""

    path: str
    digest: str
    negation: Negation
    signals: Mapping[str, Signal]
    rules: tuple[Rule, ...]
    examples: tuple[Example, ...]
    scope: Scope | None = None

    @property
    def version(self) -> str:
        return f"{Path(self.path).name}@{self.digest[:12]}"

    def all_examples(self) -> Iterator[Example]:
        for rule in self.rules:
            yield from rule.examples
        yield from self.examples

    def fingerprints(self) -> dict[str, str]:
        """Per rule, a hash of everything that decides when it fires: its condition, severity and strength,
        the phrases, patterns and fields of the signals it reads, and the negation settings.

        A rule's measured precision (kept in the model card) is valid only while its fingerprint holds;
        line numbers, explanations and examples do not count.
        """
        negation = {"window": self.negation.window, "words": sorted(self.negation.words)}
        out: dict[str, str] = {}
        for rule in self.rules:
            terms = (*rule.when.all, *rule.when.any, *rule.when.none)
            used = sorted({t for t in terms if isinstance(t, str)})
            content = {
                "severity": int(rule.severity),
                "strength": rule.strength,
                "when": {
                    part: [t if isinstance(t, str) else {"field": t.field, "values": list(t.values)} for t in group]
                    for part, group in (("all", rule.when.all), ("any", rule.when.any), ("none", rule.when.none))
                },
                "signals": {name: _signal_content(self.signals[name]) for name in used if name in self.signals},
                "negation": negation,
            }
            digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8"))
            out[rule.id] = digest.hexdigest()[:16]
        return out

    def field_names(self) -> tuple[str, ...]:
        """Request fields the rules read (from signals and conditions), sorted."""
        names: set[str] = set()
        for signal in self.signals.values():
            names.update(signal.fields)
        for rule in self.rules:
            for term in (*rule.when.all, *rule.when.any, *rule.when.none):
                if isinstance(term, FieldTest):
                    names.add(term.field)
        return tuple(sorted(names))


def _signal_content(signal: Signal) -> dict[str, Any]:
    return {
        "phrases": sorted([p.lang, p.text] for p in signal.phrases),
        "patterns": [p.regex for p in signal.patterns],
        "fields": {k: list(v) for k, v in sorted(signal.fields.items())},
        "negatable": signal.negatable,
    }


# --- YAML nodes with line numbers ----------------------------------------------------------------


class _Map(dict[str, Any]):
    """A mapping from the YAML file that remembers its line and the line of each key."""

    line: int
    key_lines: dict[str, int]


class _List(list[Any]):
    """A sequence from the YAML file that remembers its line and the line of each item."""

    line: int
    item_lines: list[int]


class _Builder:
    """Turns a composed YAML node tree into plain values that carry their line numbers."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self._scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            out = _Map()
            out.line = node.start_mark.line + 1
            out.key_lines = {}
            for key_node, value_node in node.value:
                key = self.build(key_node)
                line = key_node.start_mark.line + 1
                if not isinstance(key, str):
                    key = str(key)
                if key in out:
                    self.problems.append(
                        Problem(
                            self.file, line, f"duplicate key '{key}' (first on line {out.key_lines[key]}); keep one"
                        )
                    )
                    continue
                out[key] = self.build(value_node)
                out.key_lines[key] = line
            return out
        if isinstance(node, yaml.SequenceNode):
            seq = _List()
            seq.line = node.start_mark.line + 1
            seq.item_lines = []
            for item in node.value:
                seq.append(self.build(item))
                seq.item_lines.append(item.start_mark.line + 1)
            return seq
        return self._scalars.construct_object(node, deep=True)


def _line_of(container: Any, key: str | int, default: int) -> int:
    if isinstance(container, _Map) and isinstance(key, str):
        return container.key_lines.get(key, container.line)
    if isinstance(container, _List) and isinstance(key, int) and key < len(container.item_lines):
        return container.item_lines[key]
    return getattr(container, "line", default)


def _type_name(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def _did_you_mean(word: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --- validation ----------------------------------------------------------------------------------


class _Checker:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, line: int | None, message: str, rule_id: str | None = None) -> None:
        self.problems.append(Problem(self.file, line, message, rule_id))

    def keys(self, node: _Map, allowed: tuple[str, ...], what: str, rule_id: str | None = None) -> None:
        for key in node:
            if key not in allowed:
                self.problem(
                    node.key_lines.get(key, node.line),
                    f"unknown key '{key}' in {what}{_did_you_mean(key, allowed)}; allowed keys: {', '.join(allowed)}",
                    rule_id,
                )

    def mapping(self, value: Any, line: int, what: str, rule_id: str | None = None) -> _Map | None:
        if isinstance(value, _Map):
            return value
        self.problem(line, f"{what} must be a mapping (key: value lines); got {_type_name(value)}", rule_id)
        return None

    def seq(self, value: Any, line: int, what: str, rule_id: str | None = None) -> _List | None:
        if isinstance(value, _List):
            return value
        self.problem(line, f"{what} must be a list (lines starting with '- '); got {_type_name(value)}", rule_id)
        return None

    def text(self, value: Any, line: int, what: str, rule_id: str | None = None, *, required: bool = True) -> str:
        if isinstance(value, str) and value.strip():
            return value
        if value is None and not required:
            return ""
        if isinstance(value, bool):
            self.problem(
                line,
                f"{what} must be text; got {value!r} (YAML reads bare yes/no/on/off/true/false as true or false: "
                'put the word in quotes, e.g. "no")',
                rule_id,
            )
            return ""
        self.problem(line, f"{what} must be non-empty text; got {_type_name(value)}", rule_id)
        return ""

    # -- negation

    def negation(self, node: Any, line: int) -> Negation:
        if node is None:
            return Negation(window=3, words=frozenset())
        data = self.mapping(node, line, "'negation'")
        if data is None:
            return Negation(window=3, words=frozenset())
        self.keys(data, _NEGATION_KEYS, "'negation'")
        window = data.get("window", 3)
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 10:
            self.problem(_line_of(data, "window", line), f"negation window must be a whole number 1-10; got {window!r}")
            window = 3
        words: set[str] = set()
        by_lang = data.get("words")
        if by_lang is not None:
            langs = self.mapping(by_lang, _line_of(data, "words", line), "negation 'words'")
            if langs is not None:
                for lang, items in langs.items():
                    lang_line = langs.key_lines.get(lang, langs.line)
                    if lang not in LANGUAGES:
                        self.problem(lang_line, f"language must be one of {', '.join(LANGUAGES)}; got '{lang}'")
                    seq = self.seq(items, lang_line, f"negation words for '{lang}'")
                    for i, word in enumerate(seq or []):
                        text = self.text(word, _line_of(seq, i, lang_line), "a negation word")
                        if text:
                            words.add(fold(text.strip()))
        return Negation(window=window, words=frozenset(words))

    # -- signals

    def signals(self, node: Any, line: int) -> dict[str, Signal]:
        data = self.mapping(node, line, "'signals'")
        out: dict[str, Signal] = {}
        if data is None:
            return out
        for name, body in data.items():
            sig_line = data.key_lines.get(name, data.line)
            if not _NAME.match(name):
                self.problem(
                    sig_line,
                    f"signal name must be lower-case letters, digits and '_', starting with a letter; got '{name}'",
                )
            signal = self.signal(name, body, sig_line)
            if signal is not None:
                out[name] = signal
        return out

    def signal(self, name: str, node: Any, line: int) -> Signal | None:
        what = f"signal '{name}'"
        data = self.mapping(node, line, what)
        if data is None:
            return None
        self.keys(data, _SIGNAL_KEYS, what)
        description = self.text(data.get("description"), _line_of(data, "description", line), f"{what} description")
        phrases: list[Phrase] = []
        if "phrases" in data:
            langs = self.mapping(data["phrases"], _line_of(data, "phrases", line), f"{what} 'phrases'")
            for lang, items in (langs or {}).items():
                lang_line = langs.key_lines.get(lang, langs.line) if langs is not None else line
                if lang not in LANGUAGES:
                    self.problem(lang_line, f"{what}: language must be one of {', '.join(LANGUAGES)}; got '{lang}'")
                seq = self.seq(items, lang_line, f"{what} phrases for '{lang}'")
                for i, item in enumerate(seq or []):
                    item_line = _line_of(seq, i, lang_line)
                    text = self.text(item, item_line, f"{what}: a phrase")
                    if text and self.phrase_ok(text, item_line, what):
                        phrases.append(Phrase(text=text, lang=lang, line=item_line))
        patterns: list[Pattern] = []
        if "patterns" in data:
            seq = self.seq(data["patterns"], _line_of(data, "patterns", line), f"{what} 'patterns'")
            for i, item in enumerate(seq or []):
                item_line = _line_of(seq, i, line)
                text = self.text(item, item_line, f"{what}: a pattern")
                if not text:
                    continue
                try:
                    re.compile(text)
                except re.error as error:
                    self.problem(
                        item_line,
                        f"{what}: pattern {text!r} does not compile: {error}; write a Python regular expression "
                        "(https://docs.python.org/3/library/re.html), or use 'phrases' for plain words",
                    )
                    continue
                patterns.append(Pattern(regex=text, line=item_line))
        fields: dict[str, tuple[str, ...]] = {}
        if "fields" in data:
            fmap = self.mapping(data["fields"], _line_of(data, "fields", line), f"{what} 'fields'")
            for fname, values in (fmap or {}).items():
                fline = fmap.key_lines.get(fname, fmap.line) if fmap is not None else line
                fields[fname] = self.field_values(fname, values, fline, what)
        negatable = data.get("negatable", True)
        if not isinstance(negatable, bool):
            self.problem(
                _line_of(data, "negatable", line), f"{what}: negatable must be true or false; got {negatable!r}"
            )
            negatable = True
        if not any(key in data for key in ("phrases", "patterns", "fields")):
            self.problem(line, f"{what} has nothing to match: give 'phrases', 'patterns' or 'fields'")
        return Signal(
            name=name,
            description=description,
            phrases=tuple(phrases),
            patterns=tuple(patterns),
            fields=fields,
            negatable=negatable,
            line=line,
        )

    def phrase_ok(self, text: str, line: int, what: str) -> bool:
        for word in text.split():
            star = word.find("*")
            if star != -1 and (star != len(word) - 1 or star == 0):
                self.problem(
                    line,
                    f"{what}: phrase {text!r}: '*' is allowed only at the end of a word stem (as in 'nefung*'); "
                    f"got '{word}'",
                )
                return False
        return True

    def field_values(
        self, fname: str, values: Any, line: int, what: str, rule_id: str | None = None
    ) -> tuple[str, ...]:
        if not _NAME.match(fname):
            self.problem(line, f"{what}: field name must be lower-case letters, digits and '_'; got '{fname}'", rule_id)
        seq = self.seq(values, line, f"{what}: values of field '{fname}'", rule_id)
        if seq is not None and not seq:
            self.problem(line, f"{what}: field '{fname}' needs at least one value, e.g. [production]", rule_id)
        out: list[str] = []
        for i, value in enumerate(seq or []):
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                self.problem(_line_of(seq, i, line), f"{what}: a field value must be text; got {value!r}", rule_id)
                continue
            out.append(fold(str(value).strip()))
        return tuple(out)

    # -- scope

    def scope(self, node: Any, line: int, signals: Mapping[str, Signal]) -> Scope | None:
        if node is None:
            return None
        data = self.mapping(node, line, "'scope'")
        if data is None:
            return None
        self.keys(data, _SCOPE_KEYS, "'scope'")
        environment_policy = ""
        android_min: float | None = None
        browsers: list[Browser] = []
        if "uncertified_environment" in data:
            env_line = _line_of(data, "uncertified_environment", line)
            env = self.mapping(data["uncertified_environment"], env_line, "'scope: uncertified_environment'")
            if env is not None:
                what = "'scope: uncertified_environment'"
                self.keys(env, _ENVIRONMENT_KEYS, what)
                environment_policy = self.text(env.get("policy"), _line_of(env, "policy", env_line), f"{what} policy")
                raw_min = env.get("android_min")
                if raw_min is not None:
                    if isinstance(raw_min, bool) or not isinstance(raw_min, int | float) or not 1 <= raw_min <= 99:
                        self.problem(
                            _line_of(env, "android_min", env_line),
                            f"{what}: android_min must be an Android version number such as 8 or 8.1; got {raw_min!r}",
                        )
                    else:
                        android_min = float(raw_min)
                if "browsers" in env:
                    browsers = self.browsers(env["browsers"], _line_of(env, "browsers", env_line))
        altered = self.signal_note(data, "altered_software", line, signals)
        third = self.signal_note(data, "third_party", line, signals)
        details = self.details(data, line, signals)
        return Scope(
            environment_policy=environment_policy,
            android_min=android_min,
            browsers=tuple(browsers),
            altered_software=altered,
            third_party=third,
            details=details,
            line=line,
        )

    def browsers(self, node: Any, line: int) -> list[Browser]:
        what = "'scope: uncertified_environment: browsers'"
        data = self.mapping(node, line, what)
        out: list[Browser] = []
        for key, body in (data or {}).items():
            b_line = data.key_lines.get(key, data.line) if data is not None else line
            item = self.mapping(body, b_line, f"browser '{key}'")
            if item is None:
                continue
            self.keys(item, _BROWSER_KEYS, f"browser '{key}'")
            raw = item.get("min")
            minimum: int | None = None
            if raw == UNSUPPORTED:
                minimum = None
            elif isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                self.problem(
                    _line_of(item, "min", b_line),
                    f"browser '{key}': min must be the oldest certified major version (a whole number such as 109) "
                    f"or '{UNSUPPORTED}'; got {raw!r}",
                )
                continue
            else:
                minimum = raw
            seq = self.seq(item.get("names"), _line_of(item, "names", b_line), f"browser '{key}' names")
            names: list[str] = []
            for i, name in enumerate(seq or []):
                text = self.text(name, _line_of(seq, i, b_line), f"browser '{key}': a name")
                if text:
                    names.append(fold(text.strip()))
            if seq is not None and not names:
                self.problem(b_line, f"browser '{key}' needs at least one name, e.g. names: [chrome, google chrome]")
            if names:
                out.append(Browser(key=key, names=tuple(names), minimum=minimum, line=b_line))
        return out

    def signal_list(self, value: Any, line: int, what: str, signals: Mapping[str, Signal]) -> tuple[str, ...]:
        seq = self.seq(value, line, what)
        out: list[str] = []
        for i, item in enumerate(seq or []):
            item_line = _line_of(seq, i, line)
            if not isinstance(item, str) or item not in signals:
                known = sorted(signals)
                hint = _did_you_mean(item, known) if isinstance(item, str) else ""
                self.problem(
                    item_line,
                    f"{what}: signal {item!r} is not defined{hint}; define it under 'signals' first",
                )
                continue
            out.append(item)
        if seq is not None and not seq:
            self.problem(line, f"{what} needs at least one signal name")
        return tuple(out)

    def signal_note(self, data: _Map, key: str, line: int, signals: Mapping[str, Signal]) -> SignalNote | None:
        if key not in data:
            return None
        what = f"'scope: {key}'"
        note_line = _line_of(data, key, line)
        item = self.mapping(data[key], note_line, what)
        if item is None:
            return None
        self.keys(item, _SIGNAL_NOTE_KEYS, what)
        policy = self.text(item.get("policy"), _line_of(item, "policy", note_line), f"{what} policy")
        found = self.signal_list(item.get("signals"), _line_of(item, "signals", note_line), f"{what} signals", signals)
        return SignalNote(policy=policy, signals=found, line=note_line)

    def details(self, data: _Map, line: int, signals: Mapping[str, Signal]) -> DetailsSpec | None:
        if "details" not in data:
            return None
        what = "'scope: details'"
        d_line = _line_of(data, "details", line)
        item = self.mapping(data["details"], d_line, what)
        if item is None:
            return None
        self.keys(item, _DETAILS_KEYS, what)
        policy = self.text(item.get("policy"), _line_of(item, "policy", d_line), f"{what} policy")
        lists: dict[str, tuple[str, ...]] = {}
        not_for: tuple[str, ...] = ()
        if "not_for" in item:
            not_for = self.signal_list(item["not_for"], _line_of(item, "not_for", d_line), f"{what} not_for", signals)
        for key in _DETAILS_KEYS[1:-1]:
            if key not in item:
                self.problem(d_line, f"{what} needs '{key}': the signals that show it, e.g. {key}: [{key}]")
                lists[key] = ()
                continue
            lists[key] = self.signal_list(item[key], _line_of(item, key, d_line), f"{what} {key}", signals)
        return DetailsSpec(policy=policy, not_for=not_for, **lists)

    # -- rules

    def rules(self, node: Any, line: int, signals: Mapping[str, Signal]) -> tuple[Rule, ...]:
        seq = self.seq(node, line, "'rules'")
        out: list[Rule] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(seq or []):
            item_line = _line_of(seq, i, line)
            rule = self.rule(item, item_line, signals)
            if rule is None:
                continue
            if rule.id in seen:
                self.problem(
                    rule.line,
                    f"duplicate rule id '{rule.id}' (first on line {seen[rule.id]}); rule ids must be unique",
                    rule.id,
                )
                continue
            seen[rule.id] = rule.line
            out.append(rule)
        return tuple(out)

    def rule(self, node: Any, line: int, signals: Mapping[str, Signal]) -> Rule | None:
        data = self.mapping(node, line, "a rule")
        if data is None:
            return None
        raw_id = data.get("id")
        rule_id = raw_id if isinstance(raw_id, str) else None
        if rule_id is None or not _RULE_ID.match(rule_id):
            self.problem(
                _line_of(data, "id", line),
                "rule 'id' must be lower-case letters, digits, '-', '_' or '.', starting with a letter or digit; "
                f"got {raw_id!r}",
                rule_id,
            )
        self.keys(data, _RULE_KEYS, "a rule", rule_id)
        severity: Severity | None = None
        try:
            severity = Severity.parse(data.get("severity"))
        except ValueError as error:
            self.problem(_line_of(data, "severity", line), str(error), rule_id)
        strength = data.get("strength", "strong")
        if strength not in STRENGTHS:
            self.problem(
                _line_of(data, "strength", line),
                f"strength must be one of {', '.join(STRENGTHS)}; got {strength!r}",
                rule_id,
            )
            strength = "strong"
        explanation = self.text(data.get("explanation"), _line_of(data, "explanation", line), "explanation", rule_id)
        when = self.condition(data.get("when"), _line_of(data, "when", line), signals, rule_id)
        examples = self.examples(data.get("examples"), _line_of(data, "examples", line), rule_id, required=True)
        if rule_id is None or severity is None or when is None:
            return None
        return Rule(
            id=rule_id,
            severity=severity,
            strength="weak" if strength == "weak" else "strong",
            explanation=explanation,
            when=when,
            examples=examples,
            line=line,
        )

    def condition(self, node: Any, line: int, signals: Mapping[str, Signal], rule_id: str | None) -> Condition | None:
        data = self.mapping(node, line, "'when'", rule_id)
        if data is None:
            return None
        self.keys(data, _WHEN_KEYS, "'when'", rule_id)
        parts: dict[str, tuple[Term, ...]] = {}
        for key in _WHEN_KEYS:
            if key not in data:
                parts[key] = ()
                continue
            key_line = _line_of(data, key, line)
            seq = self.seq(data[key], key_line, f"'when: {key}'", rule_id)
            terms: list[Term] = []
            for i, item in enumerate(seq or []):
                term = self.term(item, _line_of(seq, i, key_line), signals, rule_id)
                if term is not None:
                    terms.append(term)
            parts[key] = tuple(terms)
        if not data.get("all") and not data.get("any"):
            self.problem(
                line,
                "'when' needs at least one signal under 'all' or 'any' (a rule that only says 'none' would match "
                "almost every request)",
                rule_id,
            )
            return None
        return Condition(all=parts["all"], any=parts["any"], none=parts["none"])

    def term(self, item: Any, line: int, signals: Mapping[str, Signal], rule_id: str | None) -> Term | None:
        if isinstance(item, str):
            if item not in signals:
                known = sorted(signals)
                self.problem(
                    line,
                    f"signal '{item}' is not defined{_did_you_mean(item, known)}; define it under 'signals' "
                    f"or use one of: {', '.join(known)}",
                    rule_id,
                )
                return None
            return item
        if isinstance(item, _Map):
            self.keys(item, _FIELD_TEST_KEYS, "a field test", rule_id)
            fname = item.get("field")
            if not isinstance(fname, str) or "in" not in item:
                self.problem(
                    line,
                    "a field test needs 'field' (a request field such as environment or plan) and 'in' "
                    "(a list of values), e.g. {field: environment, in: [production]}",
                    rule_id,
                )
                return None
            values = self.field_values(fname, item["in"], _line_of(item, "in", line), "field test", rule_id)
            return FieldTest(field=fname, values=values, line=line)
        self.problem(line, f"a condition item must be a signal name or a field test; got {_type_name(item)}", rule_id)
        return None

    # -- examples

    def examples(self, node: Any, line: int, rule_id: str | None, *, required: bool) -> tuple[Example, ...]:
        if node is None:
            if required:
                self.problem(line, "every rule needs 'examples' (at least one request it decides)", rule_id)
            return ()
        seq = self.seq(node, line, "'examples'", rule_id)
        out: list[Example] = []
        for i, item in enumerate(seq or []):
            example = self.example(item, _line_of(seq, i, line), rule_id)
            if example is not None:
                out.append(example)
        return tuple(out)

    def example(self, node: Any, line: int, rule_id: str | None) -> Example | None:
        data = self.mapping(node, line, "an example", rule_id)
        if data is None:
            return None
        self.keys(data, _EXAMPLE_KEYS, "an example", rule_id)
        subject = data.get("subject", "")
        if not isinstance(subject, str):
            self.problem(_line_of(data, "subject", line), f"example 'subject' must be text; got {subject!r}", rule_id)
            subject = ""
        text = data.get("text", "")
        if not isinstance(text, str) or not (text.strip() or subject.strip()):
            self.problem(
                _line_of(data, "text", line),
                f"example needs a non-empty 'text' (or 'subject'); got {_type_name(text)}",
                rule_id,
            )
            return None
        fields: dict[str, str] = {}
        if "fields" in data:
            fmap = self.mapping(data["fields"], _line_of(data, "fields", line), "example 'fields'", rule_id)
            for key, value in (fmap or {}).items():
                fields[key] = str(value)
        raw = data.get("expect")
        expect: Severity | None = None
        if raw == ABSTAIN:
            expect = None
        else:
            try:
                expect = Severity.parse(raw)
            except ValueError:
                self.problem(
                    _line_of(data, "expect", line),
                    f"example 'expect' must be one of 1, 2, 3, 4 or 'abstain'; got {raw!r}",
                    rule_id,
                )
                return None
        return Example(text=text, subject=subject, fields=fields, expect=expect, line=line, rule_id=rule_id)


def parse_rulebook(source: str, file: str = "<rules>") -> Rulebook:
    """Validate rule-file text; raise `ConfigError` listing every problem with its line."""
    try:
        root = yaml_text.compose(source)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(error, "problem", None) or str(error)
        raise ConfigError(
            [Problem(file, line, f"not valid YAML: {reason}; check indentation, colons and quotes around this line")]
        ) from None
    if root is None:
        raise ConfigError([Problem(file, None, "the rule file is empty; it needs 'signals' and 'rules'")])
    builder = _Builder(file)
    data = builder.build(root)
    checker = _Checker(file)
    checker.problems.extend(builder.problems)
    top = checker.mapping(data, 1, "the rule file")
    if top is None:
        raise ConfigError(checker.problems)
    checker.keys(top, _TOP_KEYS, "the rule file")
    version = top.get("version", 1)
    if version != 1:
        checker.problem(_line_of(top, "version", 1), f"version must be 1; got {version!r}")
    for required in ("signals", "rules"):
        if required not in top:
            checker.problem(None, f"the rule file needs a '{required}' section")
    negation = checker.negation(top.get("negation"), _line_of(top, "negation", 1))
    signals = checker.signals(top.get("signals", _empty_map()), _line_of(top, "signals", 1))
    scope = checker.scope(top.get("scope"), _line_of(top, "scope", 1), signals)
    rules = checker.rules(top.get("rules", _empty_list()), _line_of(top, "rules", 1), signals)
    examples = checker.examples(top.get("examples"), _line_of(top, "examples", 1), None, required=False)
    if checker.problems:
        raise ConfigError(checker.problems)
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    return Rulebook(
        path=file,
        digest=digest,
        negation=negation,
        signals=signals,
        rules=rules,
        examples=examples,
        scope=scope,
    )


def _empty_map() -> _Map:
    out = _Map()
    out.line = 1
    out.key_lines = {}
    return out


def _empty_list() -> _List:
    out = _List()
    out.line = 1
    out.item_lines = []
    return out


def load_rulebook(path: str | Path) -> Rulebook:
    """Read and validate a rule file."""
    file = Path(path)
    try:
        source = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [Problem(str(file), None, "rule file not found; give the path of a severity rules YAML file")]
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(str(file), None, f"cannot read the rule file: {error}")]) from None
    return parse_rulebook(source, str(file))


# --- compilation ---------------------------------------------------------------------------------

Fact = dict[str, int | str]
"""The flat record the engines see: `s_<signal>` = 0/1 and `f_<field>` = folded value ('' when absent)."""


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule's condition as a durable-rules expression over one fact."""

    id: str
    condition: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CompiledRuleset:
    """What both evaluators run: a content-hashed name, the rule conditions and the fact layout."""

    name: str
    rules: tuple[CompiledRule, ...]
    signal_names: tuple[str, ...]
    field_names: tuple[str, ...]
    rule_ids: tuple[str, ...] = field(default=())

    def fact(self, signals: frozenset[str], fields: Mapping[str, str]) -> Fact:
        """The engine fact of one request: every signal flag and every field the rules read."""
        out: Fact = {FACT_TYPE_KEY: FACT_TYPE}
        for name in self.signal_names:
            out[SIGNAL_PREFIX + name] = 1 if name in signals else 0
        for name in self.field_names:
            out[FIELD_PREFIX + name] = fields.get(name, "")
        return out


def _term_expr(term: Term) -> dict[str, Any]:
    if isinstance(term, str):
        return {SIGNAL_PREFIX + term: 1}
    options: list[dict[str, Any]] = [{FIELD_PREFIX + term.field: value} for value in term.values]
    if len(options) == 1:
        return options[0]
    return {"$or": options}


def _negate(expr: dict[str, Any]) -> dict[str, Any]:
    # durable-rules has `$neq` for one value; a negated `$or` becomes an `$and` of `$neq`s (De Morgan).
    if "$or" in expr:
        return {"$and": [_negate(option) for option in expr["$or"]]}
    ((key, value),) = expr.items()
    return {"$neq": {key: value}}


def compile_condition(when: Condition) -> dict[str, Any]:
    """The durable-rules expression of a condition (facts always carry every key, so `$neq` is safe)."""
    parts: list[dict[str, Any]] = [{FACT_TYPE_KEY: FACT_TYPE}]
    parts.extend(_term_expr(term) for term in when.all)
    if when.any:
        parts.append({"$or": [_term_expr(term) for term in when.any]})
    parts.extend(_negate(_term_expr(term)) for term in when.none)
    return {"$and": parts}


def compile_rulebook(book: Rulebook) -> CompiledRuleset:
    """Compile the rules; the ruleset name is a hash of the compiled content, so a reload gets a new name."""
    rules = tuple(CompiledRule(id=rule.id, condition=compile_condition(rule.when)) for rule in book.rules)
    signal_names = tuple(sorted(book.signals))
    field_names = book.field_names()
    payload = json.dumps(
        {"rules": [[r.id, r.condition] for r in rules], "signals": signal_names, "fields": field_names},
        sort_keys=True,
    )
    name = "sevtriage_" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
    return CompiledRuleset(
        name=name,
        rules=rules,
        signal_names=signal_names,
        field_names=field_names,
        rule_ids=tuple(r.id for r in rules),
    )
