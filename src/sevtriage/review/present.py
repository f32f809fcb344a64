"""Pure helpers that turn stored records into what the review pages show: highlighted text, times left."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from sevtriage.sla import SlaStatus
from sevtriage.text import fold
from sevtriage.types import RuleMatch


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of the request's text; `rules` names the rules whose evidence covers it (empty: plain text)."""

    text: str
    rules: tuple[str, ...] = ()


def _pattern(phrase: str) -> re.Pattern[str] | None:
    words = fold(phrase).split()
    if not words:
        return None
    # The rules read normalised text, so a phrase may span a line break or a double space in the original.
    return re.compile(r"\s+".join(re.escape(w) for w in words))


def highlight(text: str, matches: Iterable[RuleMatch]) -> list[Segment]:
    """Split `text` into segments, marking every occurrence of every rule's evidence.

    Found case- and accent-insensitively: `fold` keeps one character per character, so positions in the folded
    text are positions in the customer's own text.
    """
    folded = fold(text)
    owners: list[set[str]] = [set() for _ in text]
    for match in matches:
        for phrase in match.evidence:
            pattern = _pattern(phrase)
            if pattern is None:
                continue
            for found in pattern.finditer(folded):
                for i in range(found.start(), found.end()):
                    owners[i].add(match.id)
    segments: list[Segment] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or owners[i] != owners[start]:
            segments.append(Segment(text[start:i], tuple(sorted(owners[start]))))
            start = i
    return segments


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins:02d} min"
    return f"{mins} min"


@dataclass(frozen=True, slots=True)
class TimeLeft:
    """How long until a deadline, in words, and how pressing it is (`overdue`, `soon` within an hour, `ok`)."""

    text: str
    state: str


def time_left(due: datetime | None, now: datetime) -> TimeLeft:
    if due is None:
        return TimeLeft("no target", "none")
    delta = due - now
    if delta.total_seconds() < 0:
        return TimeLeft(f"overdue by {_span(-delta)}", "overdue")
    return TimeLeft(f"{_span(delta)} left", "soon" if delta <= timedelta(hours=1) else "ok")


def local_time(instant: datetime | None, zone: tzinfo) -> str:
    """``Tue 24 Nov 2026, 10:00 CET`` in the desk's timezone; an em dash for no time."""
    if instant is None:
        return "—"
    local = instant.astimezone(zone)
    return local.strftime("%a %d %b %Y, %H:%M ") + (local.tzname() or "")


def short_time(instant: datetime | None, zone: tzinfo) -> str:
    """``Tue 24 Nov, 10:00`` in the desk's timezone, for tables where the zone is named once above."""
    if instant is None:
        return "—"
    return instant.astimezone(zone).strftime("%a %d %b, %H:%M")


# What each review reason means, in the words a specialist reads on the desk (README "Review reasons").
REASON_TEXT = {
    "no_rule": "No rule matched, so the rules have nothing to say about this request.",
    "rule_conflict": "Rules matched with different severities.",
    "weak_rules_only": "Only weak rules matched; they inform but do not decide.",
    "low_confidence": "The model is not sure enough of its answer to decide on its own.",
    "rules_model_disagree": "The rules and the model give different severities.",
    "possible_critical": "The model finds a critical (severity 1) request likely enough to have it checked.",
    "no_model": "No model is loaded, so no severity was guessed.",
    "unfamiliar": (
        "The wording is unlike the requests the model learned from (few known words, no similar request), "
        "so its answer is a guess. Suggested no milder than 3, and as 1 only if the text says so."
    ),
    "too_vague": (
        "The request names no product area and no symptom: there are no facts to decide a severity on. "
        "Ask the customer what is wrong and for whom. Suggested no milder than 3, and as 1 only if the text says so."
    ),
    "spot_check": "Not flagged by the pipeline; sent for a spot check.",
}


def explain_reason(reason: str) -> str:
    """The plain-words meaning of a review reason (the reason itself when it is not known here)."""
    return REASON_TEXT.get(reason, reason)


@dataclass(frozen=True, slots=True)
class Badge:
    """A short SLA label for a table cell and its CSS class (``breached``, ``due``, ``met``, ``none``)."""

    text: str
    state: str


def sla_badge(status: SlaStatus, zone: tzinfo) -> Badge:
    """What the desk shows of a request's SLA status: waiting / answered, in time or breached, and until when."""
    initial, ongoing = status.initial, status.ongoing
    if status.resolved:
        return Badge(
            "resolved" + (", answered late" if initial.breached else ""), "breached" if initial.breached else "met"
        )
    if initial.state == "unknown":
        return Badge(f"no SLA: {initial.clause}", "none")
    if status.waiting:
        if initial.breached:
            return Badge(f"breached · waiting since {short_time(status.received_at, zone)}", "breached")
        if initial.state == "no_target":
            return Badge("waiting · no target", "none")
        return Badge(f"waiting · due {short_time(initial.due, zone)}", "due")
    if ongoing.breached:
        return Badge(f"update overdue since {short_time(ongoing.due, zone)}", "breached")
    answered = "answered late" if initial.breached else "answered in time"
    if ongoing.state == "due":
        return Badge(
            f"{answered} · update by {short_time(ongoing.due, zone)}", "breached" if initial.breached else "met"
        )
    return Badge(answered, "breached" if initial.breached else "met")
