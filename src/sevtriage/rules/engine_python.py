"""The plain-Python evaluator of a compiled ruleset.

It interprets the very durable-rules expressions that `engine_durable` hands to durable-rules, so
the two cannot drift apart silently (a hypothesis test checks they agree). It serves where
durable-rules cannot be imported (no release loads on Python 3.13+) and as the fast baseline in the
benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sevtriage.rules.rulebook import CompiledRuleset, Fact


def holds(expr: dict[str, Any], fact: Fact) -> bool:
    """Whether a durable-rules expression (the subset the compiler emits) holds for a fact."""
    if len(expr) != 1:
        raise ValueError(f"an expression must have exactly one key; got {sorted(expr)}")
    ((key, value),) = expr.items()
    if key == "$and":
        return all(holds(part, fact) for part in value)
    if key == "$or":
        return any(holds(part, fact) for part in value)
    if key == "$neq":
        ((name, expected),) = value.items()
        return bool(fact.get(name) != expected)
    if key.startswith("$"):
        raise ValueError(f"operator {key} is not one the rule compiler emits ($and, $or, $neq, equality)")
    return bool(fact.get(key) == value)


class PythonEngine:
    """Evaluates every rule of a compiled ruleset for each fact; stateless, so thread-safe."""

    name = "python"

    def __init__(self, ruleset: CompiledRuleset) -> None:
        self.ruleset = ruleset

    def match_many(self, facts: Sequence[Fact]) -> list[tuple[str, ...]]:
        """For each fact, the ids of all rules whose condition holds, in rule-file order."""
        return [tuple(rule.id for rule in self.ruleset.rules if holds(rule.condition, fact)) for fact in facts]
