"""SLA deadlines in business time: the business calendar and the response-target policy.

``BusinessCalendar`` does the business-time arithmetic; ``SlaPolicy`` reads ``rules/sla.yaml`` and gives
deadlines and breach checks; ``sla_status`` says where a stored request stands (met / breached / due). A naive
datetime raises `NaiveDatetimeError`, which is both an `sevtriage.errors.InputError` and a ``ValueError``.
"""

from __future__ import annotations

from sevtriage.sla.calendar import WEEKDAYS, BusinessCalendar, CalendarError, Interval, NaiveDatetimeError
from sevtriage.sla.policy import BreachCheck, SlaPolicy, Target
from sevtriage.sla.tracking import ResponseClock, SlaFacts, SlaStatus, due_soon, facts_from_events, sla_status

__all__ = [
    "WEEKDAYS",
    "BreachCheck",
    "BusinessCalendar",
    "CalendarError",
    "Interval",
    "NaiveDatetimeError",
    "ResponseClock",
    "SlaFacts",
    "SlaPolicy",
    "SlaStatus",
    "Target",
    "due_soon",
    "facts_from_events",
    "sla_status",
]
