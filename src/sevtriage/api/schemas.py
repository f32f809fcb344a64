"""Request and response bodies of the API, for validation and the OpenAPI page at /docs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

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

    # Strict: true, 1.5 or [1] must be refused, not turned into the id "1" (issue 10, item 9).
    id: StrictStr | StrictInt = Field(description="Unique id of the request: text or a whole number.")
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


class FamiliarityOut(BaseModel):
    known_words: float = Field(description="Share of the request's distinct content words in the model's vocabulary.")
    known_chars: float = Field(description="Share of its distinct character n-grams in the model's vocabulary.")
    nearest: float = Field(description="Cosine similarity (TF-IDF) to the most similar training request.")
    facts: list[str] = Field(description="Product areas and symptoms the text names (rules/lexicon.yaml).")
    says_critical: bool = Field(description="Whether the text itself says the impact is critical.")
    reasons: list[str] = Field(description="`unfamiliar` and / or `too_vague` when the card's cut-offs say so.")


def _reasons_text() -> str:
    from sevtriage.review.present import REASON_TEXT

    listed = "; ".join(f"`{k}`: {v}" for k, v in REASON_TEXT.items() if k != "spot_check")
    return f"Why a specialist must look (empty when `needs_review` is false). Reasons: {listed}"


class ModelOpinionOut(BaseModel):
    severity: int = Field(description="The model's label (1-4): a bias-adjusted arg-max of its scores.")
    probabilities: dict[str, float] = Field(
        description="The model's full calibrated distribution over severities '1'-'4' (sums to 1)."
    )
    top_terms: list[str] = Field(description="Terms that pushed toward the label; '~' marks character n-grams.")
    familiarity: FamiliarityOut | None = Field(
        default=None, description="How well the model knows the request's wording (absent for older models)."
    )


class DecisionOut(BaseModel):
    """The decision record (DESIGN.md); deadlines, scope notes and versions are carried as documented there."""

    model_config = ConfigDict(extra="allow")

    id: str
    severity: int | None = Field(description="1 critical .. 4 low; null only when nothing could decide.")
    severity_name: str | None = Field(description="critical, high, medium or low.")
    source: str | None = Field(description="Who decided: 'rules' or 'model'.")
    confidence: float = Field(
        description=(
            "The estimated probability (0-1) that this decision's severity is right, whoever decided. "
            "For source 'model': the calibrated probability of the decided severity (also when review moved the "
            "suggestion off the model's label). For source 'rules': the precision of the rules that decided, "
            "measured on the labelled training data when the model was trained and shrunk toward the rules' "
            "pooled precision when a rule matched few requests (the model card's `rule_precision`)."
        )
    )
    needs_review: bool = Field(
        description=(
            "false is a promise: auto-labelled decisions reach the card's precision target (95%), with "
            "thresholds chosen on a 95% lower confidence bound of out-of-fold precision."
        )
    )
    review_reasons: list[str] = Field(description=_reasons_text())
    matched_rules: list[dict[str, Any]] = Field(description="Every rule that matched: id, severity, evidence, ...")
    model: ModelOpinionOut | None = Field(description="The model's view, or null when it was not consulted.")


class BatchOut(BaseModel):
    decisions: list[DecisionOut]
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
