"""POST /v1/sla/due (deadlines for a severity, plan and arrival) and /v1/sla/... for stored requests' SLA status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from sevtriage.api.deps import engines_of, require_token
from sevtriage.api.errors import ApiError
from sevtriage.api.schemas import ERROR_RESPONSES, SlaDueIn, SlaDueOut
from sevtriage.errors import InputError
from sevtriage.intake.readers import parse_instant
from sevtriage.sla import SlaStatus
from sevtriage.store import NotFound, RequestEvent
from sevtriage.types import Severity
from sevtriage.watch.board import Listing, SlaBoard, event_json, parse_at

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["sla"])


@router.post("/sla/due", summary="Response deadlines", response_model=SlaDueOut, responses=ERROR_RESPONSES)
def sla_due(payload: SlaDueIn, request: Request) -> JSONResponse:
    """Initial and ongoing response deadlines in business time, with the target and clause that set each."""
    loaded = engines_of(request).current
    try:
        severity = Severity.parse(payload.severity)
        received = parse_instant(payload.received_at)
    except ValueError as error:
        raise ApiError(422, str(error)) from None
    plan = (payload.plan or "").strip().lower() or loaded.intake.default_plan or loaded.sla.default_plan
    plans = loaded.intake.plans
    if plans is not None and plan not in plans:
        raise ApiError(422, f"unknown plan {payload.plan!r}; plan must be one of {', '.join(sorted(plans))}")
    deadlines = loaded.sla.deadlines(severity, plan, received)
    return JSONResponse(
        {
            "severity": int(severity),
            "plan": plan,
            "received_at": received.isoformat(),
            **deadlines.to_dict(),
        }
    )


# -- tracking: the SLA clock of stored requests ------------------------------------------------------------------


class EventIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"by": "support@example.com", "at": "2026-11-27T16:50:00+01:00", "ref": "<reply-1@example>"}]
        },
    )

    by: str = Field(min_length=1, max_length=320, description="Who answered (or resolved): an address or a name.")
    at: str | None = Field(default=None, description="ISO-8601 instant with offset; default: now.")
    ref: str | None = Field(default=None, max_length=500, description="Your id of it; recorded once per request.")


def _board(request: Request) -> SlaBoard:
    board: SlaBoard | None = getattr(request.app.state, "sla_board", None)
    if board is None:
        raise ApiError(
            404,
            "SLA tracking needs the decision store, which is switched off; set store_url (SEVTRIAGE_STORE_URL) and "
            "keep review_enabled on",
            code="no_store",
        )
    return board


def _at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_at(value, "at")
    except InputError as error:
        raise ApiError(422, str(error)) from None


def _status_json(status: SlaStatus, events: list[RequestEvent] | None = None) -> dict[str, Any]:
    body = status.to_dict()
    if events is not None:
        body["events"] = [event_json(e) for e in events]
    return body


def _listing(request: Request, which: Listing, limit: int) -> JSONResponse:
    items = _board(request).listing(which, limit=limit)
    return JSONResponse({"count": len(items), "items": [_status_json(s) for s in items]})


@router.get("/sla/requests/{request_id:path}", summary="SLA status of a stored request", responses=ERROR_RESPONSES)
def sla_request(request_id: str, request: Request) -> JSONResponse:
    """Initial response met / breached / due, the next update due, the breach flag, and the request's events."""
    try:
        status, events = _board(request).status(request_id)
    except NotFound as missing:
        raise ApiError(404, str(missing)) from None
    return JSONResponse(_status_json(status, events))


@router.post(
    "/sla/requests/{request_id:path}/responses", summary="Record a response to the customer", responses=ERROR_RESPONSES
)
def sla_record_response(request_id: str, payload: EventIn, request: Request) -> JSONResponse:
    """For teams without the mail import: support answered the customer (at `at`, default now)."""
    try:
        status = _board(request).record_response(request_id, _at(payload.at), payload.by, ref=payload.ref)
    except NotFound as missing:
        raise ApiError(404, str(missing)) from None
    return JSONResponse(_status_json(status))


@router.post(
    "/sla/requests/{request_id:path}/resolved", summary="Record that a request is solved", responses=ERROR_RESPONSES
)
def sla_record_resolved(request_id: str, payload: EventIn, request: Request) -> JSONResponse:
    """The request's clocks stop and it leaves the SLA lists (until the customer writes again)."""
    try:
        status = _board(request).record_resolved(request_id, _at(payload.at), payload.by)
    except NotFound as missing:
        raise ApiError(404, str(missing)) from None
    return JSONResponse(_status_json(status))


@router.get("/sla/waiting", summary="Requests waiting for a first response", responses=ERROR_RESPONSES)
def sla_waiting(request: Request, limit: int = Query(200, ge=1, le=10_000)) -> JSONResponse:
    """Unresolved requests no response has reached yet, breached first, then by initial deadline."""
    return _listing(request, "waiting", limit)


@router.get("/sla/breached", summary="Requests whose SLA is broken", responses=ERROR_RESPONSES)
def sla_breached(request: Request, limit: int = Query(200, ge=1, le=10_000)) -> JSONResponse:
    """Unresolved requests answered late, waiting past their target, or overdue for an update."""
    return _listing(request, "breached", limit)


@router.get("/sla/open", summary="All unresolved requests with their SLA status", responses=ERROR_RESPONSES)
def sla_open(request: Request, limit: int = Query(200, ge=1, le=10_000)) -> JSONResponse:
    return _listing(request, "open", limit)
