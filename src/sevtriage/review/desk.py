"""The review desk's use cases over the store and the SLA policy; shared by the web pages and the CLI."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from typing import Literal

from sevtriage.errors import NotStored, SevtriageError
from sevtriage.review.agreement import AgreementReport, agreement
from sevtriage.review.snippets import Snippets, load_snippets
from sevtriage.sla import SlaPolicy
from sevtriage.store import DecisionStore, StoredRequest
from sevtriage.types import Deadlines, Decision, Severity, Ticket

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class ReviewDesk:
    """Stores suggestions (with deadlines filled in) and applies specialists' actions with new deadlines."""

    def __init__(
        self,
        store: DecisionStore,
        policy: SlaPolicy,
        *,
        clock: Callable[[], datetime] = _now,
        snippets: Snippets | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock
        self.snippets = snippets if snippets is not None else load_snippets()

    def first_response(self, request: StoredRequest) -> str | None:
        """A reply in the customer's language asking for exactly the details the request lacks (None: nothing)."""
        return self.snippets.compose(request.language, request.suggested.missing_details)

    @property
    def timezone(self) -> tzinfo:
        """The desk's calendar zone: times on the pages are shown in it."""
        return self.policy.calendar.tz

    def deadlines(self, severity: Severity, plan: str | None, received_at: datetime | None) -> Deadlines | None:
        """Deadlines from arrival for a severity; None when they cannot be known (no arrival time, unknown plan)."""
        if received_at is None:
            return None
        try:
            return self.policy.deadlines(severity, plan, received_at)
        except SevtriageError as error:
            log.warning("no deadlines for plan %r: %s", plan, error)
            return None

    def with_deadlines(self, ticket: Ticket, decision: Decision) -> Decision:
        """The decision with deadlines, computed from the policy when the caller did not give them."""
        if decision.deadlines is not None or decision.severity is None:
            return decision
        found = self.deadlines(decision.severity, ticket.plan or decision.plan, ticket.received_at)
        return replace(decision, deadlines=found) if found is not None else decision

    def save(self, pairs: Iterable[tuple[Ticket, Decision]]) -> int:
        """Store suggestions for review (one transaction)."""
        return self.store.save_many((t, self.with_deadlines(t, d)) for t, d in pairs)

    def sink(self, pairs: Sequence[tuple[Ticket, Decision]]) -> list[NotStored | None]:
        """The callable the service calls after each classification (`app.state.decision_sinks`).

        Each pair is stored or gets its own reason (`DecisionStore.save_each`): one request the database
        refuses does not cost the others of its batch.
        """
        return self.store.save_each([(t, self.with_deadlines(t, d)) for t, d in pairs])

    def act(
        self,
        request_id: str,
        *,
        actor: str,
        version: int,
        action: Literal["accept", "change"],
        severity: Severity | int | None = None,
        reason: str | None = None,
    ) -> StoredRequest:
        """Accept or change a request's severity; a change recomputes the deadlines from arrival."""

        def recompute(new: Severity, request: StoredRequest) -> Deadlines | None:
            return self.deadlines(new, request.plan, request.received_at)

        return self.store.review(
            request_id,
            actor=actor,
            expected_version=version,
            action=action,
            severity=severity,
            reason=reason,
            deadlines=recompute,
        )

    def agreement(self) -> AgreementReport:
        return agreement(self.store.reviewed(), self.store.actions(kinds=("accepted", "changed")), self.timezone)
