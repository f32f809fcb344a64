"""The `Triage` facade: one request in, one decision out, for the CLI, the API and the review desk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sevtriage.combiner import combine
from sevtriage.confidence import RulePrecision
from sevtriage.resources import default_model_path
from sevtriage.text import model_text, prepare
from sevtriage.types import Deadlines, Decision, ModelOpinion, RuleVerdict, Ticket

if TYPE_CHECKING:
    import pandas as pd

    from sevtriage.model.text_model import TrainedModel
    from sevtriage.rules.stage import RuleStage
    from sevtriage.sla import SlaPolicy


class Triage:
    """Rules, model and SLA policy loaded once; thread-safe to call from many threads.

    Nothing here changes after construction: the rule stage serialises its engine itself, and a
    fitted scikit-learn model is read-only at prediction time.
    """

    def __init__(
        self,
        rule_stage: RuleStage,
        model: TrainedModel | None = None,
        sla: SlaPolicy | None = None,
        *,
        second_opinion: bool = True,
        familiarity: bool = True,
    ) -> None:
        self.rule_stage = rule_stage
        self.model = model
        self.sla = sla
        self.second_opinion = second_opinion
        # Whether the model measures how familiar each request is (`unfamiliar`, `too_vague`); off only to
        # measure what the check changes.
        self.familiarity = familiarity
        # Rule precisions measured when the model was trained, kept only for rules unchanged since then.
        measured = model.card.rule_precision if model is not None else None
        self.rule_precision = (measured or RulePrecision()).matching(rule_stage.book.fingerprints())

    @classmethod
    def load(
        cls,
        rules: str | Path | None = None,
        *,
        model: str | Path | None = None,
        sla: str | Path | None = None,
        engine: str | None = None,
        second_opinion: bool = True,
    ) -> Triage:
        """Load rules, model and SLA policy: the bundled files, or the given paths.

        Without a `model` path the bundled model is used when it exists; when it does not, the
        rules alone decide and every unsure request goes to review (nothing is guessed). A given
        path that does not exist or does not fit raises `ConfigError` with the fix.
        With `second_opinion` (the default) the model also reads the requests the rules are sure
        about and sends them to review when it disagrees; False runs it only where rules are unsure.
        """
        from sevtriage.model import store as model_store
        from sevtriage.rules.stage import RuleStage
        from sevtriage.sla import SlaPolicy

        stage = RuleStage.load(rules, engine=engine)
        trained: TrainedModel | None = None
        if model is not None:
            trained = model_store.load(model)
        elif default_model_path().is_file():
            trained = model_store.load(default_model_path())
        return cls(stage, trained, SlaPolicy.load(sla), second_opinion=second_opinion)

    @property
    def rules_version(self) -> str:
        return self.rule_stage.version

    @property
    def model_version(self) -> str | None:
        return self.model.version if self.model is not None else None

    def classify(self, ticket: Ticket) -> Decision:
        """Decide the severity of one request."""
        return self.classify_many([ticket])[0]

    def classify_many(self, tickets: Iterable[Ticket]) -> list[Decision]:
        """Decide many requests; same results as `classify` one by one, faster.

        The model runs once, batched: over every request with `second_opinion`, else over only the
        requests the rules were unsure about.
        """
        batch: Sequence[Ticket] = list(tickets)
        # Each request's texts cleaned and folded once, for the rules and the model alike.
        prepared = [prepare(t.subject, t.body) for t in batch]
        verdicts = self.rule_stage.evaluate_many(batch, prepared)
        opinions = self.opinions_for(batch, verdicts, [p.model for p in prepared])
        return [self._decide(t, v, o) for t, v, o in zip(batch, verdicts, opinions, strict=True)]

    def opinions_for(
        self, tickets: Sequence[Ticket], verdicts: Sequence[RuleVerdict], texts: Sequence[str] | None = None
    ) -> list[ModelOpinion | None]:
        """The model's opinions (None where it is not consulted, or without a model).

        `texts` are the requests' `model_text` when the caller made them already.
        """
        opinions: list[ModelOpinion | None] = [None] * len(tickets)
        if self.model is None:
            return opinions
        consulted = [
            i for i, v in enumerate(verdicts) if self.second_opinion or not (v.confident and v.severity is not None)
        ]
        if consulted:
            if texts is None:
                read = [model_text(tickets[i].subject, tickets[i].body) for i in consulted]
            else:
                read = [texts[i] for i in consulted]
            measured = self.model.opinions(read, familiarity=self.familiarity)
            for index, opinion in zip(consulted, measured, strict=True):
                opinions[index] = opinion
        return opinions

    def classify_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """pandas in, pandas out: one row of decision fields per request row."""
        from sevtriage.intake.frames import classify_frame

        return classify_frame(self, frame)

    def _decide(self, ticket: Ticket, verdict: RuleVerdict, opinion: ModelOpinion | None) -> Decision:
        thresholds = self.model.thresholds if self.model is not None else None
        combined = combine(verdict, opinion, thresholds, self.rule_precision)
        plan = ticket.plan
        if plan is None and self.sla is not None:
            plan = self.sla.default_plan
        deadlines: Deadlines | None = None
        if self.sla is not None and ticket.received_at is not None and combined.severity is not None:
            deadlines = self.sla.deadlines(combined.severity, plan, ticket.received_at)
        return Decision(
            id=ticket.id,
            severity=combined.severity,
            source=combined.source,
            confidence=combined.confidence,
            needs_review=combined.needs_review,
            review_reasons=combined.review_reasons,
            matched_rules=verdict.matches,
            model=opinion,
            plan=plan,
            received_at=ticket.received_at,
            deadlines=deadlines,
            rules_version=self.rules_version,
            model_version=self.model_version,
            scope=verdict.scope,
            missing_details=verdict.missing_details,
        )
