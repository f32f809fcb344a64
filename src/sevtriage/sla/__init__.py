"""SLA deadlines in business time: the business calendar and the response-target policy.

``BusinessCalendar`` does the business-time arithmetic; ``SlaPolicy`` reads ``rules/sla.yaml`` and gives
deadlines and breach checks. A naive datetime raises `NaiveDatetimeError`, which is both an
`sevtriage.errors.InputError` and a ``ValueError``.
"""

from __future__ import annotations

from sevtriage.sla.calendar import WEEKDAYS, BusinessCalendar, CalendarError, Interval, NaiveDatetimeError
from sevtriage.sla.policy import BreachCheck, SlaPolicy, Target

__all__ = [
    "WEEKDAYS",
    "BreachCheck",
    "BusinessCalendar",
    "CalendarError",
    "Interval",
    "NaiveDatetimeError",
    "SlaPolicy",
    "Target",
]
