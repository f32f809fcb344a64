"""From e-mail to the desk: new requests triaged, follow-ups re-triaged, responses recorded, threads followed.

`MailDesk.process` takes raw messages (files or IMAP) and puts each into exactly one bucket:

- **request**: a customer's message that belongs to no known thread: triaged and stored as a new request;
- **follow-up**: a customer's message in the thread of a stored request: the request is re-triaged on its text
  plus the new message (a follow-up may escalate; a change of severity recomputes the deadlines from arrival);
- **response**: a message from a support address in a request's thread: it records `responded_at`;
- **skipped**, with the reason: auto-replies, bounces, bulk mail, a message already processed, a support
  message that answers no known request;
- **rejected**, with the reason: a message that cannot be a request (see `sevtriage.intake.mail`).

Threads are found by Message-ID / In-Reply-To / References; a reply ("Re: ...") whose client dropped those
headers is matched by its subject to the latest request of the same customer (or a colleague at the same
domain). Mail from support is mail from a configured support address or domain, or from an address the customer
wrote to when opening the request. Messages = requests + follow-ups + responses + skipped + rejected, always.

The store is reached through the `MailStore` protocol (the decision store implements it): intake does not import
the store. New requests are classified in batches (`Triage.classify_many`) and saved together with their
Message-IDs in one transaction, so a crash never leaves a stored request whose message would be imported again.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from sevtriage.intake.mail import Mail, MailReject, Skipped, is_forward_subject, parse_mail, thread_subject
from sevtriage.intake.mail_files import RawMail
from sevtriage.intake.pipeline import Classifier
from sevtriage.text import is_reply_subject
from sevtriage.types import Deadlines, Decision, MailRecord, Severity, Ticket

OutcomeKind = Literal["request", "follow_up", "response", "skipped", "rejected"]
DeadlineRule = Callable[[Severity, str | None, datetime], Deadlines]


class _HasTicket(Protocol):
    @property
    def ticket(self) -> Ticket: ...


class MailStore(Protocol):
    """What the mail intake needs of a store (`sevtriage.store.DecisionStore` is one)."""

    def save_mail(self, pairs: Sequence[tuple[Ticket, Decision]], records: Sequence[MailRecord]) -> None: ...

    def remember_mail(self, records: Sequence[MailRecord]) -> None: ...

    def mail_request(self, message_ids: Sequence[str]) -> str | None: ...

    def mail_known(self, message_id: str) -> MailRecord | None: ...

    def mail_request_by_subject(
        self, subject_key: str, customers: Sequence[str], *, domain: str | None = None
    ) -> str | None: ...

    def get(self, request_id: str) -> _HasTicket: ...

    def record_response(
        self, request_id: str, at: datetime, by: str, *, ref: str | None = None, note: str | None = None
    ) -> bool: ...

    def record_follow_up(
        self,
        request_id: str,
        at: datetime,
        decision: Decision | None = None,
        *,
        by: str | None = None,
        ref: str | None = None,
        note: str | None = None,
        deadlines: DeadlineRule | None = None,
    ) -> Any: ...


@dataclass(frozen=True, slots=True)
class MailRules:
    """Who is support and which plan a customer has.

    `support` holds addresses (``support@vendor.example``) and whole domains (``@vendor.example``): mail from
    them is a response. `plans` maps a customer's address or domain (``acme.example``) to a plan; others get
    `default_plan`.
    """

    support: frozenset[str] = frozenset()
    plans: dict[str, str] = field(default_factory=dict)
    default_plan: str | None = None

    def is_support(self, address: str) -> bool:
        address = address.lower()
        domain = address.rpartition("@")[2]
        return address in self.support or f"@{domain}" in self.support

    def plan_for(self, address: str) -> str | None:
        address = address.lower()
        domain = address.rpartition("@")[2]
        return self.plans.get(address) or self.plans.get(domain) or self.default_plan


@dataclass(frozen=True, slots=True)
class MailOutcome:
    """What became of one message."""

    where: str
    kind: OutcomeKind
    message_id: str | None
    request_id: str | None = None
    severity: Severity | None = None
    needs_review: bool = False
    reason: str | None = None
    subject: str | None = None
    skip_kind: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "kind": self.kind,
            "message_id": self.message_id,
            "request_id": self.request_id,
            "severity": int(self.severity) if self.severity is not None else None,
            "needs_review": self.needs_review,
            "reason": self.reason,
            "subject": self.subject,
            "skip_kind": self.skip_kind,
        }


@dataclass
class MailSummary:
    """What a run did; ``messages == requests + follow_ups + responses + skipped + rejected`` always."""

    messages: int = 0
    requests: int = 0
    follow_ups: int = 0
    responses: int = 0
    rejected: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    needs_review: int = 0
    by_severity: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def count(self, outcome: MailOutcome) -> None:
        self.messages += 1
        if outcome.kind == "request":
            self.requests += 1
        elif outcome.kind == "follow_up":
            self.follow_ups += 1
        elif outcome.kind == "response":
            self.responses += 1
        elif outcome.kind == "rejected":
            self.rejected += 1
        else:
            self.skipped[outcome.skip_kind or "other"] += 1
        if outcome.kind in ("request", "follow_up"):
            self.by_severity[outcome.severity.label if outcome.severity is not None else "undecided"] += 1
            if outcome.needs_review:
                self.needs_review += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "requests": self.requests,
            "follow_ups": self.follow_ups,
            "responses": self.responses,
            "skipped": dict(sorted(self.skipped.items())),
            "rejected": self.rejected,
            "needs_review": self.needs_review,
            "by_severity": dict(sorted(self.by_severity.items())),
            "seconds": round(self.seconds, 3),
        }

    def lines(self) -> list[str]:
        """The summary in plain words, for the end of a CLI run."""
        order = ["critical", "high", "medium", "low", "undecided"]
        severities = ", ".join(f"{name} {self.by_severity[name]}" for name in order if self.by_severity[name])
        skipped = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in sorted(self.skipped.items()))
        return [
            f"{self.messages} messages: {self.requests} new requests, {self.follow_ups} follow-ups, "
            f"{self.responses} responses, {self.skipped_total} skipped, {self.rejected} rejected "
            f"in {self.seconds:.1f} s ({self.rate:,.0f} messages/s)",
            f"skipped: {skipped or '-'}",
            f"triaged by severity: {severities or '-'}",
            f"needs review: {self.needs_review}",
        ]


def request_id_for(message_id: str) -> str:
    """The stored request's id for the message that opened it: stable, so an import run twice stores it once."""
    return "mail-" + hashlib.sha256(message_id.encode("utf-8", errors="surrogatepass")).hexdigest()[:12]


def _wrote_to(ticket: Ticket, address: str) -> bool:
    """Whether the request's first message was sent to `address` (and not by it)."""
    if ticket.extra.get("customer", "") == address:
        return False
    return address in {a.strip() for a in ticket.extra.get("mail_to", "").split(",")}


def _attachments_field(mail: Mail) -> str:
    return "; ".join(f"{a.name or '(no name)'} ({a.content_type}, {a.size} B)" for a in mail.attachments)


@dataclass
class _Pending:
    """New requests waiting for the next batch: classified and saved together."""

    tickets: list[Ticket] = field(default_factory=list)
    records: list[MailRecord] = field(default_factory=list)
    by_message: dict[str, str] = field(default_factory=dict)
    by_subject: dict[tuple[str, str], str] = field(default_factory=dict)
    outcomes: list[tuple[int, MailOutcome]] = field(default_factory=list)


class MailDesk:
    """Triage e-mail into a store, following threads (see the module docstring).

    Parameters
    ----------
    triage:
        The classifier (`sevtriage.Triage`); its SLA policy recomputes deadlines when a follow-up changes the
        severity.
    store:
        The decision store (`MailStore`).
    rules:
        Support addresses and customers' plans.
    batch_size:
        New requests classified and saved together.
    """

    def __init__(self, triage: Classifier, store: MailStore, rules: MailRules, *, batch_size: int = 500) -> None:
        self.triage = triage
        self.store = store
        self.rules = rules
        self.batch_size = batch_size
        self.summary = MailSummary()
        self._pending = _Pending()
        self._seq = 0
        # Outcomes decided (and stored) but not yet handed out, by the position of their message.
        self._done: dict[int, MailOutcome] = {}

    # -- the run -----------------------------------------------------------------------------------------------
    def process(self, items: Iterable[RawMail]) -> Iterator[MailOutcome]:
        """Handle every message; yield each outcome once it is stored, in the order the messages came."""
        started = time.perf_counter()
        try:
            for item in items:
                seq = self._seq
                self._seq += 1
                outcome = self._one(item, seq)
                if outcome is not None:
                    self._done[seq] = outcome
                if len(self._pending.tickets) >= self.batch_size:
                    self._store_pending()
                if not self._pending.tickets:
                    yield from self._drain()
            self._store_pending()
            yield from self._drain()
        finally:
            self.summary.seconds += time.perf_counter() - started

    def _drain(self) -> Iterator[MailOutcome]:
        done = sorted(self._done.items())
        self._done.clear()
        for _, outcome in done:
            self.summary.count(outcome)
            yield outcome

    def _one(self, item: RawMail, seq: int) -> MailOutcome | None:
        """The outcome of one message, or None while it waits in the batch of new requests."""
        parsed = parse_mail(item.raw, item.where, arrived_at=item.arrived_at)
        if isinstance(parsed, MailReject):
            return MailOutcome(item.where, "rejected", parsed.message_id, reason=parsed.reason, subject=parsed.subject)
        if isinstance(parsed, Skipped):
            return MailOutcome(
                item.where,
                "skipped",
                parsed.message_id,
                reason=parsed.reason,
                subject=parsed.subject,
                skip_kind=parsed.kind,
            )
        return self._mail(parsed, seq)

    def _mail(self, mail: Mail, seq: int) -> MailOutcome | None:
        known = self._pending.by_message.get(mail.message_id)
        if known is None:
            record = self.store.mail_known(mail.message_id)
            known = record.request_id if record is not None else None
        if known is not None:
            return MailOutcome(
                mail.where,
                "skipped",
                mail.message_id,
                request_id=known,
                reason=f"already processed: message <{mail.message_id}> is part of request {known}",
                subject=mail.subject,
                skip_kind="already_processed",
            )
        support = self.rules.is_support(mail.sender_address)
        request_id = self._thread(mail, support)
        if request_id is not None and request_id in self._pending.by_message.values():
            # The thread's first message waits in the batch: store the batch before answering it.
            self._store_pending()
        stored: Ticket | None = None
        if request_id is not None:
            stored = self.store.get(request_id).ticket
            if not support and _wrote_to(stored, mail.sender_address):
                # The customer wrote to this address to open the request: whoever answers from it is support,
                # configured or not.
                support = True
        if support:
            if request_id is None:
                return MailOutcome(
                    mail.where,
                    "skipped",
                    mail.message_id,
                    reason=(
                        f"a message from support ({mail.sender_address}) that answers no known request: none of its "
                        "In-Reply-To / References ids and not its subject match a stored request"
                    ),
                    subject=mail.subject,
                    skip_kind="response_without_request",
                )
            return self._response(mail, request_id)
        if request_id is not None and stored is not None:
            return self._follow_up(mail, request_id, stored)
        self._queue_request(mail, seq)
        return None

    def _thread(self, mail: Mail, support: bool) -> str | None:
        """The stored (or waiting) request this message belongs to, or None."""
        for ref in mail.thread_ids:
            if ref in self._pending.by_message:
                return self._pending.by_message[ref]
        if mail.thread_ids:
            found = self.store.mail_request(mail.thread_ids)
            if found is not None:
                return found
        if not is_reply_subject(mail.subject) or is_forward_subject(mail.subject):
            return None
        # A reply whose client dropped the thread headers: the latest request with the same subject from this
        # customer or a colleague at the same domain (for a support reply: from one of its recipients).
        key = thread_subject(mail.subject)
        if not key:
            return None
        customers = mail.recipients if support else (mail.sender_address,)
        domain = None if support else mail.sender_address.rpartition("@")[2]
        for (pending_key, customer), request_id in reversed(self._pending.by_subject.items()):
            if pending_key == key and (customer in customers or customer.endswith(f"@{domain}")):
                return request_id
        return self.store.mail_request_by_subject(key, customers, domain=domain)

    def _record(self, mail: Mail, request_id: str, kind: Literal["request", "follow_up", "response"]) -> MailRecord:
        return MailRecord(
            message_id=mail.message_id,
            request_id=request_id,
            kind=kind,
            subject_key=thread_subject(mail.subject)[:200],
            sender=mail.sender_address,
            at=mail.date,
        )

    # -- responses and follow-ups --------------------------------------------------------------------------------
    def _response(self, mail: Mail, request_id: str) -> MailOutcome:
        self.store.record_response(request_id, mail.date, mail.sender_address, ref=mail.message_id)
        self.store.remember_mail([self._record(mail, request_id, "response")])
        return MailOutcome(mail.where, "response", mail.message_id, request_id=request_id, subject=mail.subject)

    def _follow_up(self, mail: Mail, request_id: str, stored: Ticket) -> MailOutcome:
        decision: Decision | None = None
        if mail.body.strip():
            # Re-triaged on the whole story: what the request said plus what the customer adds now. The arrival
            # stays the request's, so the deadlines still count from it.
            ticket = replace(stored, body=f"{stored.body}\n\n{mail.body}".strip())
            decision = self.triage.classify(ticket)
        policy = self.triage.sla
        self.store.record_follow_up(
            request_id,
            mail.date,
            decision,
            by=mail.sender_address,
            ref=mail.message_id,
            note=mail.body[:2000] or None,
            deadlines=policy.deadlines if policy is not None else None,
        )
        self.store.remember_mail([self._record(mail, request_id, "follow_up")])
        return MailOutcome(
            mail.where,
            "follow_up",
            mail.message_id,
            request_id=request_id,
            severity=decision.severity if decision is not None else None,
            needs_review=decision.needs_review if decision is not None else False,
            subject=mail.subject,
        )

    # -- new requests --------------------------------------------------------------------------------------------
    def _queue_request(self, mail: Mail, seq: int) -> None:
        request_id = request_id_for(mail.message_id)
        extra = {"customer": mail.sender_address, "channel": "email", "message_id": mail.message_id}
        if mail.recipients:
            extra["mail_to"] = ", ".join(mail.recipients)
        if mail.sender_name:
            extra["customer_name"] = mail.sender_name
        if mail.attachments:
            extra["attachments"] = _attachments_field(mail)
        if mail.forwarded:
            extra["forwarded"] = "yes"
        ticket = Ticket(
            id=request_id,
            subject=mail.subject,
            body=mail.body,
            received_at=mail.date,
            plan=self.rules.plan_for(mail.sender_address),
            extra=extra,
        )
        pending = self._pending
        pending.tickets.append(ticket)
        pending.records.append(self._record(mail, request_id, "request"))
        pending.by_message[mail.message_id] = request_id
        pending.by_subject[(thread_subject(mail.subject), mail.sender_address)] = request_id
        pending.outcomes.append(
            (seq, MailOutcome(mail.where, "request", mail.message_id, request_id=request_id, subject=mail.subject))
        )

    def _store_pending(self) -> None:
        """Classify and store the waiting new requests with their Message-IDs (one transaction)."""
        pending = self._pending
        if not pending.tickets:
            return
        self._pending = _Pending()
        decisions = self.triage.classify_many(pending.tickets)
        self.store.save_mail(list(zip(pending.tickets, decisions, strict=True)), pending.records)
        for (seq, outcome), decision in zip(pending.outcomes, decisions, strict=True):
            self._done[seq] = replace(outcome, severity=decision.severity, needs_review=decision.needs_review)
