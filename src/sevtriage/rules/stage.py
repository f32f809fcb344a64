"""The rule stage: signals found in the request, rules evaluated on an engine, a verdict out.

The verdict is confident only when at least one strong rule matched and every matched rule names
the same severity; otherwise the stage abstains with the reasons (`no_rule`, `rule_conflict`,
`weak_rules_only`) and the request goes on as unsure. Precision beats coverage.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Protocol

from sevtriage.errors import ConfigError, Problem
from sevtriage.resources import default_rules_path
from sevtriage.rules.rulebook import (
    FACT_TYPE_KEY,
    FIELD_PREFIX,
    SIGNAL_PREFIX,
    CompiledRuleset,
    Example,
    Fact,
    Rule,
    Rulebook,
    compile_rulebook,
    load_rulebook,
)
from sevtriage.rules.scope import ScopeReader, ScopeResult
from sevtriage.rules.signals import Facts, SignalMatcher
from sevtriage.text import Prepared, new_message_text, prepare
from sevtriage.types import (
    REVIEW_NO_RULE,
    REVIEW_RULE_CONFLICT,
    REVIEW_WEAK_RULES,
    RuleMatch,
    RuleVerdict,
    ScopeNote,
    Severity,
    Ticket,
)

ENGINES = ("durable", "python")
ENGINE_ENV = "SEVTRIAGE_RULES_ENGINE"
# How many distinct engine inputs the stage remembers. Rules are a pure function of the fact (signal flags and
# fields), and real traffic repeats a few hundred fact patterns (the 2,901 corpus requests give 643), so the
# engine is asked once per pattern. Bounded, so memory does not grow with the number of requests; 0 turns it off.
DEFAULT_MEMO_SIZE = 4096


class Engine(Protocol):
    name: str

    def match_many(self, facts: Sequence[Fact]) -> list[tuple[str, ...]]: ...


def durable_available() -> bool:
    """Whether durable-rules imports here (it has no release for Python 3.13+)."""
    try:
        import sevtriage.rules.engine_durable  # noqa: F401
    except ImportError:
        return False
    return True


def choose_engine(engine: str | None) -> str:
    """The engine to use: the argument, else $SEVTRIAGE_RULES_ENGINE, else durable (python if it cannot load)."""
    chosen = engine if engine is not None else os.environ.get(ENGINE_ENV) or None
    if chosen is None:
        return "durable" if durable_available() else "python"
    chosen = chosen.strip().lower()
    if chosen not in ENGINES:
        source = "engine" if engine is not None else ENGINE_ENV
        raise ConfigError(f"{source} must be one of {', '.join(ENGINES)}; got {chosen!r}")
    return chosen


def make_engine(name: str, ruleset: CompiledRuleset) -> Engine:
    """Build the named evaluator of a compiled ruleset."""
    if name == "python":
        from sevtriage.rules.engine_python import PythonEngine

        return PythonEngine(ruleset)
    try:
        from sevtriage.rules.engine_durable import DurableEngine
    except ImportError as error:
        raise ConfigError(
            f"the durable rules engine cannot be loaded here ({error}); durable-rules has no release for "
            f"Python 3.13+. Set {ENGINE_ENV}=python (or pass engine='python') to use the plain-Python evaluator"
        ) from None
    return DurableEngine(ruleset)


def decide(
    matches: Sequence[RuleMatch], scope: tuple[ScopeNote, ...] = (), missing_details: tuple[str, ...] = ()
) -> RuleVerdict:
    """The verdict from all matched rules: confident only when strong and unanimous (with the scope read)."""
    found = tuple(matches)
    if not found:
        return RuleVerdict(found, None, False, (REVIEW_NO_RULE,), scope, missing_details)
    severities = {m.severity for m in found}
    if len(severities) > 1:
        return RuleVerdict(found, None, False, (REVIEW_RULE_CONFLICT,), scope, missing_details)
    if not any(m.strength == "strong" for m in found):
        return RuleVerdict(found, None, False, (REVIEW_WEAK_RULES,), scope, missing_details)
    return RuleVerdict(found, next(iter(severities)), True, (), scope, missing_details)


@dataclass(frozen=True, slots=True)
class ExampleResult:
    """One example of the rule file run through the stage."""

    example: Example
    verdict: RuleVerdict
    passed: bool
    problem: str | None


class RuleStage:
    """Rules loaded once; `evaluate` is thread-safe (engine calls are serialised with a lock)."""

    def __init__(self, book: Rulebook, engine: str | None = None, *, memo_size: int = DEFAULT_MEMO_SIZE) -> None:
        self.book = book
        self.compiled = compile_rulebook(book)
        self.engine_name = choose_engine(engine)
        self.matcher = SignalMatcher(book)
        self.scope_reader = ScopeReader(book.scope)
        self._engine = make_engine(self.engine_name, self.compiled)
        self._rules: Mapping[str, Rule] = {rule.id: rule for rule in book.rules}
        self._lock = threading.Lock()
        # Keyed by the fact's values: every fact of one compiled ruleset has the same keys in the same order.
        self._memo: OrderedDict[tuple[object, ...], tuple[str, ...]] = OrderedDict()
        self._memo_size = memo_size
        # The memo key is made without the fact dict (`_fire`); that needs every fact key to be distinct.
        layout = [
            FACT_TYPE_KEY,
            *(SIGNAL_PREFIX + n for n in self.compiled.signal_names),
            *(FIELD_PREFIX + n for n in self.compiled.field_names),
        ]
        self._keyed = len(set(layout)) == len(layout)
        self._version = book.version  # asked for by every decision
        self._reading = _reading_key(book)

    @classmethod
    def load(
        cls, path: str | Path | None = None, *, engine: str | None = None, memo_size: int = DEFAULT_MEMO_SIZE
    ) -> RuleStage:
        """Load a rule file (the bundled `rules/severity.yaml` when None) on the chosen engine."""
        return cls(load_rulebook(path if path is not None else default_rules_path()), engine, memo_size=memo_size)

    @property
    def engine(self) -> Engine:
        """The evaluator in use (durable-rules or plain Python)."""
        return self._engine

    @property
    def version(self) -> str:
        """The rule file name and the first 12 hex digits of its content's SHA-256."""
        return self._version

    def facts(self, ticket: Ticket) -> Facts:
        """Signals and fields of a request (what the engine sees)."""
        return self._facts(ticket, new_message_text(ticket.subject, ticket.body))

    def _facts(self, ticket: Ticket, text: str, folded: str | None = None) -> Facts:
        # Only the fields the rules read (converting every extra column would cost more than matching).
        extra = ticket.extra
        fields: dict[str, str] = {
            name: str(extra[name]) for name in self.matcher.field_names if extra.get(name) is not None
        }
        if ticket.plan:
            fields["plan"] = ticket.plan
        return self.matcher.facts(text, fields, folded)

    def scope_of(self, ticket: Ticket) -> ScopeResult:
        """The policy scope notes and missing details of one request (they never change the verdict)."""
        text = new_message_text(ticket.subject, ticket.body)
        return self.scope_reader.read(text, self._facts(ticket, text).evidence)

    def evaluate(self, ticket: Ticket) -> RuleVerdict:
        """All matched rules of one request and, when sure, the severity."""
        return self.evaluate_many([ticket])[0]

    def reads_like(self, other: RuleStage) -> bool:
        """Whether `other` finds the same facts in every request: the same signals (phrases, patterns, fields,
        in the same order), negation and request fields read; line numbers aside. Its facts then serve here."""
        return self._reading == other._reading

    def facts_many(self, tickets: Sequence[Ticket]) -> list[Facts]:
        """`facts` of many requests, in order (to pass to `evaluate_many` of stages that `reads_like` this one)."""
        return [self.facts(t) for t in tickets]

    def evaluate_many(
        self,
        tickets: Sequence[Ticket],
        prepared: Sequence[Prepared] | None = None,
        *,
        facts: Sequence[Facts] | None = None,
    ) -> list[RuleVerdict]:
        """Verdicts for many requests, in order; the same as `evaluate` one by one.

        `prepared` holds the requests' texts (`sevtriage.text.prepare`) when the caller made them already.
        `facts`: the requests' facts from `facts_many` of a stage that `reads_like` this one (finding the
        signals is most of the cost, so two rule files that differ only in their rules share it).
        """
        if prepared is None:
            prepared = [prepare(t.subject, t.body) for t in tickets]
        elif len(prepared) != len(tickets):
            raise ValueError(f"prepared must have one entry per ticket; got {len(prepared)} for {len(tickets)}")
        if facts is None:
            all_facts = [self._facts(t, p.rules, p.rules_folded) for t, p in zip(tickets, prepared, strict=True)]
        elif len(facts) != len(tickets):
            raise ValueError(f"facts must be one per ticket; got {len(facts)} for {len(tickets)}")
        else:
            all_facts = list(facts)
        with self._lock:
            fired = self._fire(all_facts)
        verdicts = []
        for ids, found, texts in zip(fired, all_facts, prepared, strict=True):
            # Read before deciding, so that the verdict is made once (`dataclasses.replace` costs two constructors).
            scope = self.scope_reader.read(texts.rules, found.evidence, texts.rules_folded)
            verdicts.append(decide(self._matches(ids, found), scope.notes, scope.missing))
        return verdicts

    def _fire(self, all_facts: Sequence[Facts]) -> list[tuple[str, ...]]:
        """Rule ids fired per request: remembered answers, the engine for the rest (caller holds the lock).

        The memo key is the request's set of signals and its field values in the fact's order: equal keys give equal
        facts (the fact's flags are the signals present among the compiled ones, its fields these values). A set
        hashes its few names once, where a tuple of one flag per signal was hashed again at each of the four
        lookups. The fact itself is built only for the patterns the engine is asked about.
        """
        fact = self.compiled.fact
        if self._memo_size <= 0 or not self._keyed:
            return self._engine.match_many([fact(f.signals, f.fields) for f in all_facts])
        field_names = self.compiled.field_names
        keys: list[tuple[object, ...]] = [(f.signals, *map(f.fields.get, field_names, repeat(""))) for f in all_facts]
        missing: dict[tuple[object, ...], Facts] = {}
        for key, found in zip(keys, all_facts, strict=True):
            if key not in self._memo and key not in missing:
                missing[key] = found
        if missing:
            asked = [fact(f.signals, f.fields) for f in missing.values()]
            for key, ids in zip(missing, self._engine.match_many(asked), strict=True):
                self._memo[key] = ids
        fired = []
        for key in keys:
            self._memo.move_to_end(key)
            fired.append(self._memo[key])
        while len(self._memo) > self._memo_size:
            self._memo.popitem(last=False)
        return fired

    def _matches(self, rule_ids: Sequence[str], facts: Facts) -> list[RuleMatch]:
        out: list[RuleMatch] = []
        for rule_id in rule_ids:
            rule = self._rules[rule_id]
            evidence: list[str] = []
            for term in (*rule.when.all, *rule.when.any):
                if isinstance(term, str):
                    evidence.extend(facts.evidence.get(term, ()))
            out.append(
                RuleMatch(
                    id=rule.id,
                    severity=rule.severity,
                    explanation=rule.explanation,
                    evidence=tuple(dict.fromkeys(evidence)),
                    strength=rule.strength,
                )
            )
        return out

    def run_examples(self) -> list[ExampleResult]:
        """Run every example written in the rule file; each says whether the rules gave what it expects."""
        results: list[ExampleResult] = []
        for example in self.book.all_examples():
            ticket = Ticket(
                id=f"example-line-{example.line}",
                subject=example.subject,
                body=example.text,
                plan=example.fields.get("plan"),
                extra={k: v for k, v in example.fields.items() if k != "plan"},
            )
            verdict = self.evaluate(ticket)
            problem = _example_problem(example, verdict, self._rules)
            results.append(ExampleResult(example=example, verdict=verdict, passed=problem is None, problem=problem))
        return results

    def check_examples(self) -> None:
        """Raise `ConfigError` naming every example whose expectation the rules do not meet."""
        failed = [r for r in self.run_examples() if not r.passed]
        if failed:
            raise ConfigError(
                [Problem(self.book.path, r.example.line, r.problem or "", r.example.rule_id) for r in failed]
            )


def _reading_key(book: Rulebook) -> tuple[object, ...]:
    """Everything `SignalMatcher` reads from a rule file, without line numbers (see `RuleStage.reads_like`)."""
    signals = tuple(
        (
            name,
            tuple((p.lang, p.text) for p in signal.phrases),
            tuple(p.regex for p in signal.patterns),
            tuple((field, tuple(values)) for field, values in signal.fields.items()),
            signal.negatable,
        )
        for name, signal in book.signals.items()
    )
    return (book.negation.window, tuple(sorted(book.negation.words)), signals, book.field_names())


def _describe(verdict: RuleVerdict) -> str:
    fired = ", ".join(f"{m.id} ({int(m.severity)}, {m.strength})" for m in verdict.matches) or "no rule"
    if verdict.confident and verdict.severity is not None:
        return f"severity {int(verdict.severity)} (matched: {fired})"
    return f"abstain [{', '.join(verdict.reasons)}] (matched: {fired})"


def _example_problem(example: Example, verdict: RuleVerdict, rules: Mapping[str, Rule]) -> str | None:
    expected = "abstain" if example.expect is None else f"severity {int(example.expect)}"
    got = verdict.severity if verdict.confident else None
    if got != example.expect:
        return (
            f"example expects {expected} but the rules give {_describe(verdict)}; "
            "fix the rule's conditions or signals, or the example's 'expect' (1-4 or abstain)"
        )
    owner = rules.get(example.rule_id) if example.rule_id else None
    if owner is not None and example.expect == owner.severity and not any(m.id == owner.id for m in verdict.matches):
        return (
            f"example expects {expected}, which is this rule's severity, but this rule did not match "
            f"({_describe(verdict)}); move the example to the rule that decides it, or fix this rule's conditions"
        )
    return None


__all__ = ["ENGINES", "ExampleResult", "RuleStage", "Severity", "choose_engine", "decide"]
