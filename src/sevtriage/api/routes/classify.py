"""POST /v1/classify and POST /v1/classify/batch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from sevtriage.api.deps import engines_of, metrics_of, require_token, settings_of
from sevtriage.api.errors import ApiError
from sevtriage.api.schemas import ERROR_RESPONSES, BatchIn, BatchOut, DecisionOut, TicketIn
from sevtriage.errors import NotStored, SevtriageError
from sevtriage.intake.readers import ticket_from_fields
from sevtriage.text import storable
from sevtriage.types import Decision, Ticket

if TYPE_CHECKING:
    from sevtriage.triage import Triage

log = logging.getLogger("sevtriage.api")
router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["classify"])


def run_sinks(app: FastAPI, pairs: Sequence[tuple[Ticket, Decision]]) -> list[NotStored | None]:
    """Hand decisions to the sinks (the review store); for each pair, None if every sink kept it, else why not.

    Blocking: call from a worker thread. A sink returns one outcome per pair (`DecisionStore.save_each`), or
    None when it kept them all; a sink that raises has kept none of them. Nothing may be answered as decided
    that a sink failed to keep: the caller answers those requests with a retryable error instead.
    """
    outcomes: list[NotStored | None] = [None] * len(pairs)
    if not pairs:
        return outcomes
    for sink in app.state.decision_sinks:
        try:
            returned = sink(pairs)
            each: Sequence[BaseException | None] = [None] * len(pairs) if returned is None else returned
        except Exception as error:
            log.error("a decision sink failed for %d decisions: %s", len(pairs), type(error).__name__, exc_info=error)
            each = [NotStored(f"a decision sink failed ({type(error).__name__})", retryable=True)] * len(pairs)
        failed = 0
        for i, outcome in enumerate(each):
            if outcome is None:
                continue
            failed += 1
            if outcomes[i] is None:
                outcomes[i] = (
                    outcome if isinstance(outcome, NotStored) else NotStored(type(outcome).__name__, retryable=True)
                )
        if failed:
            app.state.metrics.count("sink_errors")
            app.state.metrics.count("not_stored", failed)
            log.error("%d of %d decisions were not stored and were answered with an error", failed, len(pairs))
    return outcomes


def not_stored_error(error: NotStored) -> ApiError:
    """503 with Retry-After: the decision was not stored, so the client must send the request again."""
    return ApiError(
        503,
        f"the decision was not stored, so it is not given: {error}; send the request again",
        code="not_stored",
        headers={"Retry-After": "1"},
    )


def _record(request: Request, pairs: Sequence[tuple[Ticket, Decision]], rejects: int = 0) -> None:
    """Count the decisions and log them, without the request text unless the settings ask for it."""
    metrics_of(request).observe_decisions([d for _, d in pairs], rejects)
    if log.isEnabledFor(logging.INFO):
        with_text = settings_of(request).log_request_text
        for ticket, decision in pairs:
            log.info(
                "decision id=%s severity=%s source=%s review=%s%s",
                decision.id,
                decision.severity_name,
                decision.source,
                decision.needs_review,
                f" text={ticket.text!r}" if with_text else "",
            )


@router.post(
    "/classify",
    summary="Classify one request",
    responses={200: {"model": DecisionOut, "description": "The decision record (see DESIGN.md)."}, **ERROR_RESPONSES},
)
async def classify_one(payload: TicketIn, request: Request) -> JSONResponse:
    """Severity, source, confidence, review flag, matched rules, model opinion and SLA deadlines for one request."""
    decision = await decide_one(request, payload.model_dump())
    return JSONResponse(decision.to_dict())


async def decide_one(request: Request, fields: dict[str, Any]) -> Decision:
    """The decision for one validated request body (`TicketIn.model_dump()`); raises `ApiError` to refuse it.

    Shared by the route and its fast path (`sevtriage.api.fastpath`), which must answer alike.
    """
    loaded = engines_of(request).current
    rules = replace(loaded.intake, default_received_at=datetime.now(UTC))
    try:
        ticket = ticket_from_fields(fields, rules)
    except ValueError as error:
        raise ApiError(422, str(error)) from None
    # Concurrent calls are classified together (see `sevtriage.api.batcher`); the sinks run there too.
    try:
        decision: Decision = await request.app.state.batcher.classify(ticket)
    except NotStored as error:
        raise not_stored_error(error) from None
    _record(request, [(ticket, decision)])
    return decision


def _classify_each(triage: Triage, tickets: list[Ticket]) -> list[Decision | str]:
    """Decisions in one `classify_many`; if that fails, one by one, with the reason for each that fails."""
    if not tickets:
        return []
    try:
        return list(triage.classify_many(tickets))
    except Exception:
        results: list[Decision | str] = []
        for ticket in tickets:
            try:
                results.append(triage.classify(ticket))
            except SevtriageError as error:
                results.append(str(error))
            except Exception as error:
                log.error("internal error while classifying %s", ticket.id, exc_info=error)
                results.append(f"internal error while classifying ({type(error).__name__}); the server log has it")
        return results


@router.post(
    "/classify/batch",
    summary="Classify several requests",
    response_model=BatchOut,
    responses=ERROR_RESPONSES,
)
def classify_batch(payload: BatchIn, request: Request) -> JSONResponse:
    """Decisions for the valid requests, in order; each invalid one is listed in `rejects` with its index."""
    limit = settings_of(request).max_batch
    if len(payload.requests) > limit:
        raise ApiError(
            413,
            f"a batch may hold at most {limit} requests; got {len(payload.requests)}; split it into smaller batches",
            code="batch_too_large",
        )
    loaded = engines_of(request).current
    rules = replace(loaded.intake, default_received_at=datetime.now(UTC))
    tickets: list[Ticket] = []
    rejects: list[dict[str, object]] = []
    first_index: dict[str, int] = {}
    for index, fields in enumerate(payload.requests):
        raw_id = fields.get("id")
        # As given, but with what no JSON answer can carry (a lone surrogate) replaced.
        shown = storable(str(raw_id).strip()) if raw_id is not None and str(raw_id).strip() else None
        try:
            ticket = ticket_from_fields(fields, rules)
        except ValueError as error:
            rejects.append({"index": index, "id": shown, "reason": str(error), "retryable": False})
            continue
        if ticket.id in first_index:
            reason = f"duplicate id {ticket.id!r}: request {first_index[ticket.id]} has the same id"
            rejects.append({"index": index, "id": ticket.id, "reason": reason, "retryable": False})
            continue
        first_index[ticket.id] = index
        tickets.append(ticket)
    decided: list[tuple[Ticket, Decision]] = []
    for ticket, result in zip(tickets, _classify_each(loaded.triage, tickets), strict=True):
        if isinstance(result, Decision):
            decided.append((ticket, result))
        else:  # this request's own fault (e.g. a deadline past the calendar): it alone is refused
            rejects.append({"index": first_index[ticket.id], "id": ticket.id, "reason": result, "retryable": False})
    pairs: list[tuple[Ticket, Decision]] = []
    for (ticket, decision), outcome in zip(decided, run_sinks(request.app, decided), strict=True):
        if outcome is None:
            pairs.append((ticket, decision))
        else:
            reason = f"not stored: {outcome}; send this request again"
            rejects.append({"index": first_index[ticket.id], "id": ticket.id, "reason": reason, "retryable": True})
    if decided and not pairs:
        raise not_stored_error(NotStored("no decision of the batch could be stored", retryable=True))
    rejects.sort(key=lambda r: int(str(r["index"])))
    _record(request, pairs, len(rejects))
    return JSONResponse({"decisions": [d.to_dict() for _, d in pairs], "rejects": rejects})
