"""Decisions to JSON and back, for the store's `suggested_json` and `deadlines_json` columns."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, cast

from sevtriage.types import (
    Deadline,
    Deadlines,
    Decision,
    Familiarity,
    ModelOpinion,
    RuleMatch,
    ScopeNote,
    Severity,
    Source,
)


def _instant(value: object) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _severity(value: object) -> Severity | None:
    return Severity.parse(value) if value is not None else None


def deadlines_to_json(deadlines: Deadlines | None) -> str | None:
    return json.dumps(deadlines.to_dict(), ensure_ascii=False) if deadlines is not None else None


def deadlines_from_dict(data: dict[str, Any] | None) -> Deadlines | None:
    if not data:
        return None

    def one(item: dict[str, Any]) -> Deadline:
        return Deadline(due=_instant(item.get("due")), target=item.get("target"), clause=str(item.get("clause", "")))

    return Deadlines(initial_response=one(data["initial_response"]), ongoing_response=one(data["ongoing_response"]))


def deadlines_from_json(raw: str | None) -> Deadlines | None:
    return deadlines_from_dict(json.loads(raw)) if raw else None


def decision_to_json(decision: Decision) -> str:
    return json.dumps(decision.to_dict(), ensure_ascii=False, sort_keys=True)


def decision_from_dict(data: dict[str, Any]) -> Decision:
    """The inverse of `Decision.to_dict` (floats come back rounded as stored)."""
    matches = tuple(
        RuleMatch(
            id=str(m["id"]),
            severity=Severity.parse(m["severity"]),
            explanation=str(m.get("explanation", "")),
            evidence=tuple(str(e) for e in m.get("evidence", ())),
            strength=cast(Literal["strong", "weak"], m.get("strength", "strong")),
        )
        for m in data.get("matched_rules", ())
    )
    model_data = data.get("model")
    model = (
        ModelOpinion(
            severity=Severity.parse(model_data["severity"]),
            probabilities={int(k): float(v) for k, v in model_data.get("probabilities", {}).items()},
            top_terms=tuple(str(t) for t in model_data.get("top_terms", ())),
            familiarity=_familiarity(model_data.get("familiarity")),
        )
        if model_data
        else None
    )
    return Decision(
        id=str(data["id"]),
        severity=_severity(data.get("severity")),
        source=cast(Source | None, data.get("source")),
        confidence=float(data.get("confidence", 0.0)),
        needs_review=bool(data.get("needs_review", False)),
        review_reasons=tuple(str(r) for r in data.get("review_reasons", ())),
        matched_rules=matches,
        model=model,
        plan=data.get("plan"),
        received_at=_instant(data.get("received_at")),
        deadlines=deadlines_from_dict(data.get("deadlines")),
        rules_version=str(data.get("rules_version", "")),
        model_version=data.get("model_version"),
        # Decisions stored before scope existed have neither key: no notes, nothing known to be missing.
        scope=tuple(
            ScopeNote(
                kind=str(n.get("kind", "")),
                evidence=tuple(str(e) for e in n.get("evidence", ())),
                detail=str(n.get("detail", "")),
                policy=str(n.get("policy", "")),
            )
            for n in data.get("scope", ())
        ),
        missing_details=tuple(str(m) for m in data.get("missing_details", ())),
    )


def decision_from_json(raw: str) -> Decision:
    return decision_from_dict(json.loads(raw))


def _familiarity(data: dict[str, Any] | None) -> Familiarity | None:
    if not data:
        return None
    return Familiarity(
        known_words=float(data.get("known_words", 0.0)),
        known_chars=float(data.get("known_chars", 0.0)),
        nearest=float(data.get("nearest", 0.0)),
        facts=tuple(str(f) for f in data.get("facts", ())),
        says_critical=bool(data.get("says_critical", False)),
        reasons=tuple(str(r) for r in data.get("reasons", ())),
    )
