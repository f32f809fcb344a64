"""Unfamiliar and vague requests go to review, suggested no milder than 3 and as 1 only when the text says so."""

from __future__ import annotations

import pytest

from sevtriage.combiner import combine
from sevtriage.triage import Triage
from sevtriage.types import (
    REVIEW_DISAGREE,
    REVIEW_LOW_CONFIDENCE,
    REVIEW_NO_RULE,
    REVIEW_TOO_VAGUE,
    REVIEW_UNFAMILIAR,
    REVIEW_WEAK_RULES,
    Familiarity,
    ModelOpinion,
    ReviewThresholds,
    RuleMatch,
    RuleVerdict,
    Severity,
    Ticket,
)

S1, S2, S3, S4 = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
THRESHOLDS = ReviewThresholds(auto_label={1: 0.6, 2: 0.7, 3: 0.8, 4: 0.6}, critical_alert=0.2)
NO_RULE = RuleVerdict(matches=(), severity=None, confident=False, reasons=(REVIEW_NO_RULE,))
VAGUE = Familiarity(known_words=1.0, known_chars=1.0, nearest=0.3, reasons=(REVIEW_TOO_VAGUE,))
STRANGE = Familiarity(
    known_words=0.1, known_chars=0.5, nearest=0.05, facts=("area:login",), reasons=(REVIEW_UNFAMILIAR,)
)
STRANGE_CRITICAL = Familiarity(0.1, 0.5, 0.05, ("area:login",), True, (REVIEW_UNFAMILIAR,))
FAMILIAR = Familiarity(known_words=0.9, known_chars=0.99, nearest=0.6, facts=("area:login",))


def opinion(severity: Severity, probabilities: tuple[float, ...], familiarity: Familiarity | None) -> ModelOpinion:
    return ModelOpinion(severity, dict(zip((1, 2, 3, 4), probabilities, strict=True)), (), familiarity)


def rule(severity: Severity, strength: str = "strong") -> RuleMatch:
    return RuleMatch(id=f"r{int(severity)}", severity=severity, explanation="x", strength=strength)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("verdict", "model", "severity", "confidence", "reasons"),
    [
        # "I can't tell" is never severity 4: a sure 4 on vague text waits as 3.
        (NO_RULE, opinion(S4, (0.0, 0.0, 0.0, 1.0), VAGUE), S3, 0.0, (REVIEW_NO_RULE, REVIEW_TOO_VAGUE)),
        (NO_RULE, opinion(S4, (0.0, 0.0, 0.1, 0.9), STRANGE), S3, 0.1, (REVIEW_NO_RULE, REVIEW_UNFAMILIAR)),
        # A model's 1 on text that does not say so becomes 2 (still reviewed, still near the top).
        (
            NO_RULE,
            opinion(S1, (0.9, 0.01, 0.0, 0.09), VAGUE),
            S2,
            0.01,
            (REVIEW_NO_RULE, REVIEW_TOO_VAGUE),
        ),
        # ... unless the text says it is critical, or a severity-1 rule matched.
        (NO_RULE, opinion(S1, (0.9, 0.1, 0.0, 0.0), STRANGE_CRITICAL), S1, 0.9, (REVIEW_NO_RULE, REVIEW_UNFAMILIAR)),
        (
            RuleVerdict((rule(S1, "weak"),), None, False, (REVIEW_WEAK_RULES,)),
            opinion(S1, (0.9, 0.1, 0.0, 0.0), STRANGE),
            S1,
            0.9,
            (REVIEW_WEAK_RULES, REVIEW_UNFAMILIAR),
        ),
        # 2 and 3 stay as they are, with the model's reasons kept in front.
        (
            NO_RULE,
            opinion(S2, (0.1, 0.5, 0.2, 0.2), VAGUE),
            S2,
            0.5,
            (REVIEW_NO_RULE, REVIEW_LOW_CONFIDENCE, REVIEW_TOO_VAGUE),
        ),
    ],
)
def test_flagged_model_decisions_go_to_review_with_a_safe_suggestion(
    verdict: RuleVerdict, model: ModelOpinion, severity: Severity, confidence: float, reasons: tuple[str, ...]
) -> None:
    combined = combine(verdict, model, THRESHOLDS)
    assert (combined.severity, combined.source, combined.needs_review) == (severity, "model", True)
    assert combined.confidence == pytest.approx(confidence)
    assert combined.review_reasons == reasons


def test_a_familiar_request_is_decided_as_before() -> None:
    sure = opinion(S4, (0.0, 0.0, 0.05, 0.95), FAMILIAR)
    assert combine(NO_RULE, sure, THRESHOLDS) == combine(NO_RULE, opinion(S4, (0.0, 0.0, 0.05, 0.95), None), THRESHOLDS)
    assert not combine(NO_RULE, sure, THRESHOLDS).needs_review


def test_confident_rules_are_left_alone() -> None:
    sure_rules = RuleVerdict((rule(S2),), S2, True, ())
    combined = combine(sure_rules, opinion(S2, (0.0, 0.9, 0.1, 0.0), VAGUE), THRESHOLDS)
    assert (combined.severity, combined.source, combined.needs_review) == (S2, "rules", False)


def test_an_escalation_on_unfamiliar_text_stops_short_of_1() -> None:
    sure_rules = RuleVerdict((rule(S3),), S3, True, ())
    combined = combine(sure_rules, opinion(S1, (0.9, 0.1, 0.0, 0.0), STRANGE), THRESHOLDS)
    assert (combined.severity, combined.needs_review) == (S2, True)
    assert combined.review_reasons == (REVIEW_DISAGREE, REVIEW_UNFAMILIAR)


# -- the issue's examples, through the real rules and the bundled model -------------------------------

ISSUE_EXAMPLES = [
    ("", "hi, something is off with the app since yesterday, can you check?"),
    ("", "Dobrý deň, niečo je zle, zavolajte mi prosím."),
    ("niečo nefunguje", "Dobry den, nieco nam nefunguje, zavolajte mi prosim na 0905 123 456."),
    ("", "Dobrý den, něco je špatně, zavolejte mi prosím."),
    ("Něco nefunguje", "dobry den, neco nam nejde, muzete mi zavolat? Dekuji"),
    ("Contract", "Hello, could someone from your sales team call me back about renewing our contract? Thanks, Eva"),
    ("", "Please call me back about our contract renewal."),
    (
        "Team lunch on Friday",
        "Dear all, the office will be closed on Friday for the team lunch. Bring your own plates.",
    ),
    (
        "Your parcel is on its way",
        "Your order #44123 has shipped and will arrive on Tuesday. Track it in the courier app.",
    ),
]


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load()


@pytest.mark.parametrize(("subject", "body"), ISSUE_EXAMPLES)
def test_the_issues_examples_go_to_review_neither_as_1_nor_as_4(triage: Triage, subject: str, body: str) -> None:
    decision = triage.classify(Ticket(id="T-1", subject=subject, body=body))
    assert decision.needs_review
    assert {REVIEW_TOO_VAGUE, REVIEW_UNFAMILIAR} & set(decision.review_reasons)
    assert decision.severity in (S2, S3)


def test_a_clear_outage_is_not_flagged(triage: Triage) -> None:
    decision = triage.classify(Ticket(id="T-2", subject="Nikto sa nevie prihlásiť", body="Od 8:00 celá firma stojí."))
    assert decision.severity == S1
    assert not {REVIEW_TOO_VAGUE, REVIEW_UNFAMILIAR} & set(decision.review_reasons)
