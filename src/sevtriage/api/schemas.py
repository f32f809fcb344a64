"""Request and response bodies of the API, for validation and the OpenAPI page at /docs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_EXAMPLE: dict[str, Any] = {
    "id": "T-1042",
    "subject": "Nikto sa nevie prihlásiť",
    "body": "Od 8:00 nefunguje prihlásenie pre celú firmu, dochádzka stojí.",
    "received_at": "2026-11-27T16:30:00+01:00",
    "plan": "premier",
    "customer": "ACME s.r.o.",
}


class TicketIn(BaseModel):
    """One support request. Fields other than these are carried through (e.g. customer, product, channel)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_EXAMPLE]})

    id: str | int = Field(description="Unique id of the request.")
    subject: str | None = Field(default="", description="Subject line; subject or body must have text.")
    body: str | None = Field(default="", description="Message text, any language.")
    received_at: str | None = Field(
        default=None,
        description="ISO-8601 instant with offset, e.g. 2026-11-27T16:30:00+01:00; default: when the call arrived.",
    )
    plan: str | None = Field(default=None, description="Support plan (standard, premier); default from the policy.")


class BatchIn(BaseModel):
    """Several requests; each is validated on its own, so one bad request does not refuse the rest."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"requests": [_EXAMPLE]}]})

    requests: list[dict[str, Any]] = Field(description="Requests shaped like the body of POST /v1/classify.")


class RejectOut(BaseModel):
    index: int
    id: str | None
    reason: str
    retryable: bool = Field(
        default=False, description="True when the request was fine but could not be stored: send it again."
    )


class BatchOut(BaseModel):
    decisions: list[dict[str, Any]]
    rejects: list[RejectOut]


class SlaDueIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"severity": 1, "plan": "premier", "received_at": "2026-11-27T16:30:00+01:00"}]}
    )

    severity: int | str = Field(description="1-4 or critical, high, medium, low.")
    plan: str | None = Field(default=None, description="Support plan; default from the policy.")
    received_at: str = Field(description="ISO-8601 instant with offset.")


class DeadlineOut(BaseModel):
    due: str | None
    target: str | None
    clause: str


class SlaDueOut(BaseModel):
    severity: int
    plan: str
    received_at: str
    initial_response: DeadlineOut
    ongoing_response: DeadlineOut


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorInfo(BaseModel):
    status: int
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorOut(BaseModel):
    """The one error shape of every route."""

    error: ErrorInfo


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong bearer token."},
    413: {"model": ErrorOut, "description": "Body over the size limit."},
    422: {"model": ErrorOut, "description": "The request is not valid."},
    500: {"model": ErrorOut, "description": "Internal error."},
    503: {"model": ErrorOut, "description": "Not stored (code not_stored): send the request again after Retry-After."},
}
