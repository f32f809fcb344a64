"""The Rules page's what-if: a candidate rule file against the live one over the stored history.

The same computation as `sevtriage rules diff OLD NEW --store URL` (`rules.diff.DiffCounter` and
`sla_load.SlaLoadCounter` over `DecisionStore.diff_request_batches`), with the live rules as OLD. Nothing here touches
the rules in service: the candidate gets a rule stage of its own, in the process that runs `run_whatif` (the desk
runs it in a worker process, so evaluating thousands of requests neither blocks the event loop nor holds the
service's GIL).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sevtriage.errors import ConfigError, Problem
from sevtriage.rules.diff import DiffCounter, RulesDiff, evaluate_both
from sevtriage.rules.rulebook import Rulebook, parse_rulebook
from sevtriage.sla_load import SlaLoad, SlaLoadCounter
from sevtriage.store import Override, RuleCount

# The name a pasted or uploaded candidate goes by in messages (an upload's own name is not trusted: it is the
# user's, and the messages must read like `sevtriage rules check candidate.yaml`).
CANDIDATE_NAME = "candidate.yaml"
# The bundled rule file is about 60 KB; a candidate ten times that is no rule file.
MAX_CANDIDATE_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class WhatIf:
    """A what-if's outcome: the diff, the SLA load, the candidate's failing examples, and what it covered."""

    diff: RulesDiff
    load: SlaLoad
    example_problems: tuple[str, ...]
    seconds: float
    candidate_sha256: str


def read_candidate(data: bytes, name: str = CANDIDATE_NAME) -> Rulebook:
    """Validate a candidate rule file's bytes; `ConfigError` with the `rules check` problems when it is malformed."""
    if len(data) > MAX_CANDIDATE_BYTES:
        raise ConfigError(
            Problem(
                name,
                None,
                f"the rule file is {len(data):,} bytes; a candidate may have at most {MAX_CANDIDATE_BYTES:,}",
            )
        )
    try:
        source = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(
            Problem(name, None, f"the rule file is not UTF-8 text (byte {error.start}); save it as UTF-8")
        ) from None
    if not source.strip():
        raise ConfigError(Problem(name, None, "the rule file is empty; paste or upload a severity rules YAML file"))
    # Line ends as a file read in text mode has them, so the digest matches the same file loaded from disk.
    return parse_rulebook(source.replace("\r\n", "\n").replace("\r", "\n"), name)


def run_whatif(
    store_url: str, live: Rulebook, candidate: Rulebook, engine: str | None, sla_path: Path | None
) -> WhatIf:
    """Diff `candidate` against `live` over every stored request, as `rules diff --store` does (a module-level
    function with picklable arguments, so that it can run in a worker process)."""
    from sevtriage.rules.stage import RuleStage
    from sevtriage.sla import SlaPolicy
    from sevtriage.store import DecisionStore

    started = time.perf_counter()
    old_stage = RuleStage(live, engine)
    new_stage = RuleStage(candidate, engine)
    try:
        new_stage.check_examples()
        failing: tuple[str, ...] = ()
    except ConfigError as error:
        failing = tuple(str(p) for p in error.problems)
    # The CLI's loop: a batch of stored requests at a time, counts and changes kept, verdicts dropped.
    counter = DiffCounter(live, candidate)
    load_counter = SlaLoadCounter(SlaPolicy.load(sla_path))
    with DecisionStore.open(store_url) as store:
        for batch in store.diff_request_batches():
            tickets = [ticket for ticket, _ in batch]
            old, new = evaluate_both(old_stage, new_stage, tickets)
            counter.add([t.id for t in tickets], old, new, [label for _, label in batch])
            load_counter.add(tickets, old, new)
    return WhatIf(
        diff=counter.result(),
        load=load_counter.result(),
        example_problems=failing,
        seconds=time.perf_counter() - started,
        candidate_sha256=candidate.digest,
    )


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One line of the Rules page: a rule of the live file (or one only the store knows) with its record."""

    id: str
    severity: int | None
    strength: str | None
    explanation: str
    live: bool  # False: the stored suggestions name it, the live rule file has it no more
    matched: int
    reviewed: int
    agreed: int
    overridden: int
    overrides: tuple[Override, ...]

    @property
    def precision(self) -> float | None:
        return self.agreed / self.reviewed if self.reviewed else None

    @property
    def override_rate(self) -> float | None:
        return self.overridden / self.reviewed if self.reviewed else None


def rule_rows(book: Rulebook, counts: Sequence[RuleCount], overrides: Sequence[Override]) -> list[RuleRow]:
    """The live file's rules in file order, then rules only the store knows; counts summed over the severities a
    rule had when it matched (a rule whose severity was edited has one count per severity)."""
    totals: dict[str, list[int]] = {}
    severities: dict[str, int | None] = {}
    for count in counts:
        sums = totals.setdefault(count.rule_id, [0, 0, 0, 0])
        for i, value in enumerate((count.matched, count.reviewed, count.agreed, count.overridden)):
            sums[i] += value
        severities.setdefault(count.rule_id, int(count.severity) if count.severity is not None else None)
    latest: dict[str, list[Override]] = {}
    for override in overrides:
        latest.setdefault(override.rule_id, []).append(override)

    def row(rule_id: str, severity: int | None, strength: str | None, explanation: str, live: bool) -> RuleRow:
        matched, reviewed, agreed, overridden = totals.get(rule_id, [0, 0, 0, 0])
        return RuleRow(
            rule_id, severity, strength, explanation, live, matched, reviewed, agreed, overridden,
            tuple(latest.get(rule_id, ())),
        )  # fmt: skip

    rows = [row(r.id, int(r.severity), r.strength, r.explanation, True) for r in book.rules]
    known = {r.id for r in book.rules}
    rows += [row(rule_id, severities[rule_id], None, "", False) for rule_id in sorted(totals) if rule_id not in known]
    return rows
