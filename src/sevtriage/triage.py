"""The `Triage` facade: one request in, one decision out, for the CLI, the API and the review desk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sevtriage.combiner import combine
from sevtriage.types import Decision, ModelOpinion, RuleVerdict, Ticket

if TYPE_CHECKING:
    import pandas as pd

    from sevtriage.rule_stage import RuleStage


class Triage:
    """Rules, model and SLA policy loaded once; thread-safe to call from many threads."""

    def __init__(self, rule_stage: RuleStage) -> None:
        self.rule_stage = rule_stage

    @classmethod
    def load(
        cls,
        rules: str | Path | None = None,
        *,
        engine: str | None = None,
    ) -> Triage:
        """Load the bundled rules (or the given files)."""
        from sevtriage.rule_stage import RuleStage

        return cls(RuleStage.load(rules, engine=engine))

    @property
    def rules_version(self) -> str:
        return self.rule_stage.version

    def classify(self, ticket: Ticket) -> Decision:
        """Decide the severity of one request."""
        return self.classify_many([ticket])[0]

    def classify_many(self, tickets: Iterable[Ticket]) -> list[Decision]:
        """Decide many requests; same results as `classify` one by one, faster."""
        batch: Sequence[Ticket] = list(tickets)
        verdicts = self.rule_stage.evaluate_many(batch)
        return [self._decide(t, v, None) for t, v in zip(batch, verdicts, strict=True)]

    def classify_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """pandas in, pandas out: one row of decision fields per request row."""
        from sevtriage.frames import classify_frame

        return classify_frame(self, frame)

    def _decide(self, ticket: Ticket, verdict: RuleVerdict, opinion: ModelOpinion | None) -> Decision:
        combined = combine(verdict, opinion)
        return Decision(
            id=ticket.id,
            severity=combined.severity,
            source=combined.source,
            confidence=combined.confidence,
            needs_review=combined.needs_review,
            review_reasons=combined.review_reasons,
            matched_rules=verdict.matches,
            model=opinion,
            plan=ticket.plan,
            received_at=ticket.received_at,
            deadlines=None,
            rules_version=self.rules_version,
            model_version=None,
        )
