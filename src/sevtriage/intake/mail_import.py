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
from itertools import islice
from typing import Any, Literal, Protocol

from sevtriage.intake.mail import Mail, MailReject, Skipped, is_forward_subject, parse_mail, thread_subject
from sevtriage.intake.mail_files import RawMail
from sevtriage.intake.pipeline import Classifier
from sevtriage.text import is_reply_subject
from sevtriage.types import Deadlines, Decision, MailEvent, MailRecord, Severity, Ticket

OutcomeKind = Literal["request", "follow_up", "response", "skipped", "rejected"]
DeadlineRule = Callable[[Severity, str | None, datetime], Deadlines]


class _HasTicket(Protocol):
    @property
    def ticket(self) -> Ticket: ...


class MailStore(Protocol):
    """What the mail intake needs of a store (`sevtriage.store.DecisionStore` is one)."""

    def save_mail(self, pairs: Sequence[tuple[Ticket, Decision]], records: Sequence[MailRecord]) -> None: ...

    def save_mail_events(self, items: Sequence[MailEvent], *, deadlines: DeadlineRule | None = None) -> None: ...

    def mail_records(self, message_ids: Sequence[str]) -> dict[str, MailRecord]: ...

    def mail_request_by_subject(
        self, subject_key: str, customers: Sequence[str], *, domain: str | None = None
    ) -> str | None: ...

    def tickets(self, request_ids: Sequence[str]) -> dict[str, Ticket]: ...

    def get(self, request_id: str) -> _HasTicket: ...


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


@dataclass(frozen=True, slots=True)
class _Waiting:
    """A message in the thread of a known request, waiting for its batch: a response or a follow-up."""

    seq: int
    mail: Mail
    request_id: str
    # From a configured support address (a customer's address may still turn out to be support: `_wrote_to`).
    support: bool


@dataclass
class _Pending:
    """The batch: new requests to classify and save, then the responses and follow-ups in known threads."""

    tickets: list[Ticket] = field(default_factory=list)
    records: list[MailRecord] = field(default_factory=list)
    by_message: dict[str, str] = field(default_factory=dict)
    by_subject: dict[tuple[str, str], str] = field(default_factory=dict)
    outcomes: list[tuple[int, MailOutcome]] = field(default_factory=list)
    waiting: list[_Waiting] = field(default_factory=list)
    waiting_by_message: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.tickets) + len(self.waiting)


# Messages read and parsed ahead, whose Message-IDs and thread ids are looked up in the store with one query.
_LOOKAHEAD = 200


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
        Messages (new requests, follow-ups and responses) classified and saved together.
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
        # What the store knew of the messages read ahead (`_look_up`), and the messages stored since then: with
        # the batch, all that `_known` and `_thread` need without a query per message.
        self._stored: dict[str, MailRecord] = {}
        self._recent: dict[str, str] = {}

    # -- the run -----------------------------------------------------------------------------------------------
    def process(self, items: Iterable[RawMail]) -> Iterator[MailOutcome]:
        """Handle every message; yield each outcome once it is stored, in the order the messages came."""
        started = time.perf_counter()
        try:
            iterator = iter(items)
            while chunk := list(islice(iterator, _LOOKAHEAD)):
                parsed = [(item, parse_mail(item.raw, item.where, arrived_at=item.arrived_at)) for item in chunk]
                self._look_up([p for _, p in parsed if isinstance(p, Mail)])
                for item, one in parsed:
                    seq = self._seq
                    self._seq += 1
                    outcome = self._one(item, one, seq)
                    if outcome is not None:
                        self._done[seq] = outcome
                    if self._pending.size >= self.batch_size:
                        self._store_pending()
                    if not self._pending.size:
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

    def _look_up(self, mails: Sequence[Mail]) -> None:
        """Read what the store knows of these messages and the messages they answer, in one query.

        Everything stored before now is in the store, and everything since is in the batch or `_recent`, so
        `_recent` starts again here.
        """
        ids = [i for mail in mails for i in (mail.message_id, *mail.thread_ids)]
        self._stored = self.store.mail_records(ids) if ids else {}
        self._recent.clear()

    def _stored_request(self, message_id: str) -> str | None:
        """The request of a message the store has (or has been given in this run, outside the batch), or None."""
        found = self._pending.waiting_by_message.get(message_id) or self._recent.get(message_id)
        if found is not None:
            return found
        record = self._stored.get(message_id)
        return record.request_id if record is not None else None

    def _one(self, item: RawMail, parsed: Mail | Skipped | MailReject, seq: int) -> MailOutcome | None:
        """The outcome of one message, or None while it waits in the batch."""
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
        known = self._pending.by_message.get(mail.message_id) or self._stored_request(mail.message_id)
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
        if request_id is not None:
            # A response or a follow-up: decided when the batch is stored, once its request is in the store.
            self._pending.waiting.append(_Waiting(seq, mail, request_id, support))
            self._pending.waiting_by_message[mail.message_id] = request_id
            return None
        if support:
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
        self._queue_request(mail, seq)
        return None

    def _thread(self, mail: Mail, support: bool) -> str | None:
        """The stored (or waiting) request this message belongs to, or None."""
        for ref in mail.thread_ids:
            if ref in self._pending.by_message:
                return self._pending.by_message[ref]
        for ref in mail.thread_ids:
            found = self._stored_request(ref)
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

    # -- storing the batch ---------------------------------------------------------------------------------------
    def _store_pending(self) -> None:
        """Store the batch: the new requests with their Message-IDs (one transaction), then the responses and
        follow-ups with theirs (a second one), so a crash never leaves a stored message that would be imported
        again, and an interrupted batch is imported again whole.
        """
        pending = self._pending
        if not pending.size:
            return
        self._pending = _Pending()
        if pending.tickets:
            decisions = self.triage.classify_many(pending.tickets)
            self.store.save_mail(list(zip(pending.tickets, decisions, strict=True)), pending.records)
            for (seq, outcome), decision in zip(pending.outcomes, decisions, strict=True):
                self._done[seq] = replace(outcome, severity=decision.severity, needs_review=decision.needs_review)
            self._recent.update(pending.by_message)
        if pending.waiting:
            self._store_answers(pending.waiting)
            self._recent.update(pending.waiting_by_message)

    def _store_answers(self, waiting: Sequence[_Waiting]) -> None:
        """Responses and follow-ups, in the order they came: follow-ups re-triaged together, stored together."""
        tickets = self.store.tickets([w.request_id for w in waiting])
        kinds: list[Literal["response", "follow_up"]] = []
        retriage: list[Ticket] = []
        for w in waiting:
            stored = tickets.get(w.request_id)
            if stored is None:
                stored = self.store.get(w.request_id).ticket  # raises the store's NotFound
            # The customer wrote to this address to open the request: whoever answers from it is support,
            # configured or not.
            support = w.support or _wrote_to(stored, w.mail.sender_address)
            kinds.append("response" if support else "follow_up")
            if not support and w.mail.body.strip():
                # Re-triaged on the whole story: what the request said plus what the customer adds now. The
                # arrival stays the request's, so the deadlines still count from it.
                retriage.append(replace(stored, body=f"{stored.body}\n\n{w.mail.body}".strip()))
        decisions = iter(self.triage.classify_many(retriage) if retriage else [])
        items: list[MailEvent] = []
        outcomes: list[MailOutcome] = []
        for w, kind in zip(waiting, kinds, strict=True):
            mail = w.mail
            if kind == "response":
                items.append(
                    MailEvent(
                        "response",
                        w.request_id,
                        mail.date,
                        mail.sender_address,
                        mail.message_id,
                        self._record(mail, w.request_id, "response"),
                    )
                )
                outcomes.append(
                    MailOutcome(mail.where, "response", mail.message_id, request_id=w.request_id, subject=mail.subject)
                )
                continue
            decision = next(decisions) if mail.body.strip() else None
            items.append(
                MailEvent(
                    "follow_up",
                    w.request_id,
                    mail.date,
                    mail.sender_address,
                    mail.message_id,
                    self._record(mail, w.request_id, "follow_up"),
                    decision=decision,
                    note=mail.body[:2000] or None,
                )
            )
            outcomes.append(
                MailOutcome(
                    mail.where,
                    "follow_up",
                    mail.message_id,
                    request_id=w.request_id,
                    severity=decision.severity if decision is not None else None,
                    needs_review=decision.needs_review if decision is not None else False,
                    subject=mail.subject,
                )
            )
        policy = self.triage.sla
        self.store.save_mail_events(items, deadlines=policy.deadlines if policy is not None else None)
        for w, outcome in zip(waiting, outcomes, strict=True):
            self._done[w.seq] = outcome
