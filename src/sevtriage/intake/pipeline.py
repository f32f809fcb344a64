"""The batch intake pipeline: validated requests stream through `Triage.classify_many` in fixed-size batches.

Memory stays flat: at most one batch of requests and decisions is alive, plus 16 bytes per id for the
duplicate check (`sevtriage.intake.SeenIds`). Every row ends up either as a decision or as a reject.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sevtriage.errors import SevtriageError
from sevtriage.intake.outputs import DecisionWriter, RejectsWriter
from sevtriage.intake.readers import IntakeRules, Reject
from sevtriage.types import Decision, Ticket

if TYPE_CHECKING:
    from sevtriage.sla import SlaPolicy


class Classifier(Protocol):
    """What intake needs of a classifier (`sevtriage.Triage` is one): intake never imports the facade."""

    @property
    def sla(self) -> SlaPolicy | None: ...

    def classify(self, ticket: Ticket) -> Decision: ...

    def classify_many(self, tickets: Iterable[Ticket]) -> list[Decision]: ...


# A sink keeps decisions (the review store): for each pair, None when kept, else why not (same order); a sink
# that returns None kept them all.
Sink = Callable[[Sequence[tuple[Ticket, Decision]]], Sequence[BaseException | None] | None]
DEFAULT_BATCH_SIZE = 1000


@dataclass
class Summary:
    """What a run did. `rows == decisions + rejects` always holds."""

    rows: int = 0
    decisions: int = 0
    rejects: int = 0
    needs_review: int = 0
    by_severity: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def count(self, decisions: Sequence[Decision]) -> None:
        for decision in decisions:
            self.by_severity[decision.severity_name or "undecided"] += 1
            self.by_source[decision.source or "none"] += 1
            if decision.needs_review:
                self.needs_review += 1
        self.decisions += len(decisions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "decisions": self.decisions,
            "rejects": self.rejects,
            "needs_review": self.needs_review,
            "by_severity": dict(sorted(self.by_severity.items())),
            "by_source": dict(sorted(self.by_source.items())),
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        """The summary in plain words, for the end of a CLI run."""
        order = ["critical", "high", "medium", "low", "undecided"]
        severities = ", ".join(f"{name} {self.by_severity[name]}" for name in order if self.by_severity[name])
        sources = ", ".join(f"{name} {count}" for name, count in sorted(self.by_source.items()))
        share = f" ({100 * self.needs_review / self.decisions:.1f}%)" if self.decisions else ""
        return [
            f"{self.rows} rows: {self.decisions} decisions, {self.rejects} rejected "
            f"in {self.seconds:.1f} s ({self.rate:,.0f} rows/s)",
            f"by severity: {severities or '-'}",
            f"by source: {sources or '-'}",
            f"needs review: {self.needs_review}{share}",
        ]


def intake_rules_for(triage: Classifier) -> IntakeRules:
    """Plans and the default plan from the triage's SLA policy."""
    return IntakeRules.from_policy(triage.sla)


def _classify_batch(
    triage: Classifier, batch: list[tuple[int, Ticket]]
) -> tuple[list[tuple[Ticket, Decision]], list[Reject]]:
    tickets = [t for _, t in batch]
    try:
        decisions = triage.classify_many(tickets)
        return list(zip(tickets, decisions, strict=True)), []
    except Exception:
        # One request that breaks the classifier must not take its batch down: retry one by one.
        pairs: list[tuple[Ticket, Decision]] = []
        failed: list[Reject] = []
        for line, ticket in batch:
            try:
                pairs.append((ticket, triage.classify(ticket)))
            except SevtriageError as error:  # the request's own fault, e.g. a deadline past the calendar's end
                failed.append(Reject(line, ticket.text, str(error), ticket.id))
            except Exception as error:
                failed.append(
                    Reject(line, ticket.text, f"internal error while classifying: {type(error).__name__}", ticket.id)
                )
        return pairs, failed


def run(
    triage: Classifier,
    items: Iterable[tuple[int, Ticket] | Reject],
    writer: DecisionWriter,
    rejects: RejectsWriter,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    sinks: Sequence[Sink] = (),
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Classify validated requests in batches; write decisions and rejects; return the counts."""
    summary = Summary()
    started = time.perf_counter()
    batch: list[tuple[int, Ticket]] = []

    def flush() -> None:
        lines = {ticket.id: line for line, ticket in batch}
        pairs, failed = _classify_batch(triage, batch)
        batch.clear()
        for sink in sinks:
            # A decision a sink could not keep is a reject (with the reason, never the database's own text), not
            # an output row: in = out + rejects holds, and the rejects file is what to send again.
            outcomes = sink(pairs)
            if outcomes is None:
                continue
            kept: list[tuple[Ticket, Decision]] = []
            for (ticket, decision), outcome in zip(pairs, outcomes, strict=True):
                if outcome is None:
                    kept.append((ticket, decision))
                else:
                    failed.append(Reject(lines[ticket.id], ticket.text, f"not stored: {outcome}", ticket.id))
            pairs = kept
        failed.sort(key=lambda r: r.line)
        writer.write(pairs)
        for reject in failed:
            rejects.write(reject)
        summary.rejects += len(failed)
        summary.count([d for _, d in pairs])
        if progress is not None:
            progress(summary.rows)

    for item in items:
        summary.rows += 1
        if isinstance(item, Reject):
            rejects.write(item)
            summary.rejects += 1
            continue
        batch.append(item)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    writer.close()
    rejects.close()
    summary.seconds = time.perf_counter() - started
    if progress is not None:
        progress(summary.rows)
    return summary
