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


def _reasons_text() -> str:
    from sevtriage.review.present import REASON_TEXT

    listed = "; ".join(f"`{k}`: {v}" for k, v in REASON_TEXT.items() if k != "spot_check")
    return f"Why a specialist must look (empty when `needs_review` is false). Reasons: {listed}"


class DecisionOut(BaseModel):
    """The decision record of DESIGN.md (documentation of the response; the record itself is the contract)."""

    id: str
    severity: int | None = Field(description="1 critical .. 4 low; null only when nothing could decide.")
    severity_name: str | None = Field(description="critical, high, medium or low.")
    source: str | None = Field(description="rules or model.")
    confidence: float = Field(description="The estimated probability that this decision's severity is right.")
    needs_review: bool
    review_reasons: list[str] = Field(description=_reasons_text())
    matched_rules: list[dict[str, Any]] = Field(
        description="Every rule that matched: id, severity, explanation, evidence."
    )
    model: dict[str, Any] | None = Field(
        description="The model's severity, probabilities and top terms, and `familiarity`: the shares of the request's "
        "words (`known_words`) and character n-grams (`known_chars`) the model knows, the similarity to the nearest "
        "training request (`nearest`), the product areas and symptoms it names (`facts`), whether the text says the "
        "impact is critical (`says_critical`) and the reasons those give (`unfamiliar`, `too_vague`). Null when the "
        "model was not consulted."
    )
    plan: str | None
    received_at: str | None
    deadlines: dict[str, Any] | None
    rules_version: str
    model_version: str | None


class BatchOut(BaseModel):
    decisions: list[dict[str, Any]] = Field(description="Decision records, shaped like the response of /v1/classify.")
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
