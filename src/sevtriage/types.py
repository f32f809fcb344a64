"""Domain records that travel through the core: requests, rule matches, model opinions, decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any, Literal


class Severity(IntEnum):
    """The four severity levels of the support policy; 1 is the most severe."""

    CRITICAL = 1
    HIGH = 2
    MEDIUM = 3
    LOW = 4

    @property
    def label(self) -> str:
        """The lower-case name used in records (`critical`, `high`, `medium`, `low`)."""
        return _LABEL_NAMES[self]

    @classmethod
    def parse(cls, value: object) -> Severity:
        """Accept 1-4 (int or digit string) or a name; raise ValueError with what was allowed."""
        if isinstance(value, Severity):
            return value
        if isinstance(value, bool):
            raise ValueError(f"severity must be one of 1, 2, 3, 4; got {value!r}")
        if isinstance(value, int) and 1 <= value <= 4:
            return cls(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text in {"1", "2", "3", "4"}:
                return cls(int(text))
            for member in cls:
                if member.label == text:
                    return member
        raise ValueError(f"severity must be one of 1, 2, 3, 4 (or critical, high, medium, low); got {value!r}")


# Made once: an enum member's `name` is a descriptor lookup, and every decision record asks for its label.
_LABEL_NAMES: dict[int, str] = {member: member.name.lower() for member in Severity}

# The model's classes in column order, most severe first.
LABELS: tuple[int, ...] = tuple(int(s) for s in Severity)
# The highest severity-1 alert level any tuning may pick; also the level used when nothing was tuned.
MAX_CRITICAL_ALERT = 0.25


@dataclass(frozen=True, slots=True)
class ReviewThresholds:
    """Per-class auto-label thresholds (None: always review), the severity-1 alert level, and the least
    confidence (measured precision) at which a rules decision is auto-labelled without the model's backing."""

    auto_label: dict[int, float | None]
    critical_alert: float
    rules_min_confidence: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "auto_label": {
                str(k): (round(v, 6) if v is not None else None) for k, v in sorted(self.auto_label.items())
            },
            "critical_alert": round(self.critical_alert, 6),
            "rules_min_confidence": round(self.rules_min_confidence, 6),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReviewThresholds:
        auto = {int(k): (float(v) if v is not None else None) for k, v in data["auto_label"].items()}
        return cls(
            auto_label=auto,
            critical_alert=float(data["critical_alert"]),
            rules_min_confidence=float(data.get("rules_min_confidence", 0.0)),
        )

    @classmethod
    def review_everything(cls) -> ReviewThresholds:
        """No auto-labelling at all; the safe choice when nothing was tuned."""
        return cls(auto_label=dict.fromkeys(LABELS), critical_alert=MAX_CRITICAL_ALERT)


Source = Literal["rules", "model"]

# Review reasons are open-ended strings in records; these are the ones the core emits.
REVIEW_NO_RULE = "no_rule"
REVIEW_RULE_CONFLICT = "rule_conflict"
REVIEW_WEAK_RULES = "weak_rules_only"
REVIEW_LOW_CONFIDENCE = "low_confidence"
REVIEW_DISAGREE = "rules_model_disagree"
REVIEW_CRITICAL_RISK = "possible_critical"
REVIEW_NO_MODEL = "no_model"
# The request is unlike the model's training requests (few known words, no similar request): its answer is a guess.
REVIEW_UNFAMILIAR = "unfamiliar"
# The request names no product area and no symptom: there are no facts to decide a severity on.
REVIEW_TOO_VAGUE = "too_vague"


@dataclass(frozen=True, slots=True)
class Ticket:
    """One support request as it arrives."""

    id: str
    subject: str = ""
    body: str = ""
    received_at: datetime | None = None
    plan: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Subject and body joined, the text the rules and the model read."""
        if self.subject and self.body:
            return f"{self.subject}\n{self.body}"
        return self.subject or self.body


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule that fired for a request, with the text that made it fire."""

    id: str
    severity: Severity
    explanation: str
    evidence: tuple[str, ...] = ()
    strength: Literal["strong", "weak"] = "strong"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": int(self.severity),
            "explanation": self.explanation,
            "evidence": list(self.evidence),
            "strength": self.strength,
        }


# The policy's "We don't support" kinds (support-policy.txt) a scope note may carry.
SCOPE_KINDS: tuple[str, ...] = ("uncertified_environment", "altered_software", "third_party")
# The policy's "Speed up the troubleshooting" items a request may lack, in the order the policy names them.
DETAIL_ITEMS: tuple[str, ...] = ("browser_version", "android_version", "recent_changes", "workaround", "steps_taken")


@dataclass(frozen=True, slots=True)
class ScopeNote:
    """One "we don't support" observation: which kind, what in the text shows it, and the policy line it rests on.

    A note informs the specialist; it never changes a severity.
    """

    kind: str
    evidence: tuple[str, ...]
    detail: str
    policy: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "evidence": list(self.evidence), "detail": self.detail, "policy": self.policy}


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """What the rule stage concluded: all matched rules, and a severity only when it is confident.

    `scope` and `missing_details` come from the rule file's `scope` section and never affect the severity.
    """

    matches: tuple[RuleMatch, ...]
    severity: Severity | None
    confident: bool
    reasons: tuple[str, ...] = ()
    scope: tuple[ScopeNote, ...] = ()
    missing_details: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Familiarity:
    """How well the model knows a request's wording, and whether the request names anything to decide on.

    `known_words` and `known_chars` are the shares of the request's distinct content words and character
    n-grams that are in the model's vocabulary; `nearest` is the cosine similarity to the most similar
    training request; `facts` names the product areas and symptoms found (`rules/lexicon.yaml`);
    `says_critical` is whether the text itself says the impact is critical; `reasons` holds `unfamiliar`
    and / or `too_vague` when the card's cut-offs say the model's answer should not be trusted.
    """

    known_words: float
    known_chars: float
    nearest: float
    facts: tuple[str, ...] = ()
    says_critical: bool = False
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "known_words": round(self.known_words, 4),
            "known_chars": round(self.known_chars, 4),
            "nearest": round(self.nearest, 4),
            "facts": list(self.facts),
            "says_critical": self.says_critical,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class ModelOpinion:
    """The text model's view of a request (with `familiarity` when the model measures it)."""

    severity: Severity
    probabilities: Mapping[int, float]
    top_terms: tuple[str, ...] = ()
    familiarity: Familiarity | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": int(self.severity),
            "probabilities": {str(k): round(v, 4) for k, v in sorted(self.probabilities.items())},
            "top_terms": list(self.top_terms),
        }
        if self.familiarity is not None:
            out["familiarity"] = self.familiarity.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class Deadline:
    """One response deadline: the instant (None when the policy sets no target) and what set it."""

    due: datetime | None
    target: str | None
    clause: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "due": self.due.isoformat() if self.due else None,
            "target": self.target,
            "clause": self.clause,
        }


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Initial and ongoing response deadlines of one request."""

    initial_response: Deadline
    ongoing_response: Deadline

    def to_dict(self) -> dict[str, Any]:
        return {
            "initial_response": self.initial_response.to_dict(),
            "ongoing_response": self.ongoing_response.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one request, per the DESIGN.md record.

    `severity` is None only when nothing could decide (rules unsure and no model loaded); such a
    decision always has `needs_review` set.
    """

    id: str
    severity: Severity | None
    source: Source | None
    confidence: float
    needs_review: bool
    review_reasons: tuple[str, ...]
    matched_rules: tuple[RuleMatch, ...]
    model: ModelOpinion | None
    plan: str | None
    received_at: datetime | None
    deadlines: Deadlines | None
    rules_version: str
    model_version: str | None
    # Policy notes (see ScopeNote) and what the request lacks (DETAIL_ITEMS); informative, never the severity.
    scope: tuple[ScopeNote, ...] = ()
    missing_details: tuple[str, ...] = ()

    @property
    def severity_name(self) -> str | None:
        return self.severity.label if self.severity is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready record of DESIGN.md."""
        return {
            "id": self.id,
            "severity": int(self.severity) if self.severity is not None else None,
            "severity_name": self.severity_name,
            "source": self.source,
            "confidence": round(self.confidence, 4),
            "needs_review": self.needs_review,
            "review_reasons": list(self.review_reasons),
            "matched_rules": [m.to_dict() for m in self.matched_rules],
            "model": self.model.to_dict() if self.model else None,
            "plan": self.plan,
            "received_at": self.received_at.isoformat() if self.received_at else None,
            "deadlines": self.deadlines.to_dict() if self.deadlines else None,
            "scope": [note.to_dict() for note in self.scope],
            "missing_details": list(self.missing_details),
            "rules_version": self.rules_version,
            "model_version": self.model_version,
        }


MailKind = Literal["request", "follow_up", "response"]


@dataclass(frozen=True, slots=True)
class MailRecord:
    """Where one e-mail message went: the request it opened or belongs to, for finding threads later.

    `subject_key` is the subject without reply prefixes, folded (`sevtriage.intake.mail.thread_subject`), the
    fallback for replies whose client dropped In-Reply-To and References; `sender` is the From address.
    """

    message_id: str
    request_id: str
    kind: MailKind
    subject_key: str
    sender: str
    at: datetime


@dataclass(frozen=True, slots=True)
class MailEvent:
    """A response from support or a customer's follow-up read from e-mail, with the record of its message.

    What `DecisionStore.record_response` / `record_follow_up` take one at a time, for storing many in one
    transaction (`DecisionStore.save_mail_events`). `decision` is a follow-up's re-triage (None for a response, or
    a follow-up without new text); `ref` is the message's Message-ID, which makes storing it again a no-op.
    """

    kind: Literal["response", "follow_up"]
    request_id: str
    at: datetime
    by: str
    ref: str
    record: MailRecord
    decision: Decision | None = None
    note: str | None = None
