"""Rebuild the golden SLA deadline table: ``python tests/golden/build_sla_golden.py``.

The table lists both deadlines for every severity x plan x interesting arrival (weekends, holidays, DST,
closing time). It was checked by hand once; `tests/test_sla_policy.py` fails when the code disagrees with it.
Rebuild only after a deliberate policy or semantics change, then review the diff line by line.
"""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from pathlib import Path

from sevtriage.sla import SlaPolicy
from sevtriage.types import Deadline

GOLDEN = Path(__file__).with_name("sla_deadlines.csv")

# (label, arrival) in Europe/Bratislava; 2026 Slovak holidays per Act No. 241/1993 Coll. as amended.
ARRIVALS: tuple[tuple[str, str], ...] = (
    ("weekday morning", "2026-11-24T09:15+01:00"),
    ("weekday 16:30", "2026-11-25T16:30+01:00"),
    ("Friday 16:30", "2026-11-27T16:30+01:00"),
    ("exactly 17:00", "2026-11-26T17:00+01:00"),
    ("23:00", "2026-11-24T23:00+01:00"),
    ("Saturday night", "2026-11-28T22:00+01:00"),
    ("Sunday before Easter Monday", "2026-04-05T20:00+02:00"),
    ("public holiday (Epiphany)", "2026-01-06T10:00+01:00"),
    ("8 May 2026, a working day that year", "2026-05-08T16:00+02:00"),
    ("day before Christmas Eve", "2026-12-23T15:00+01:00"),
    ("Friday before spring DST", "2026-03-27T16:30+01:00"),
    ("Saturday night, spring DST", "2026-03-28T23:30+01:00"),
    ("Friday before autumn DST", "2026-10-23T16:30+02:00"),
    ("Saturday night, autumn DST", "2026-10-24T22:00+02:00"),
    ("second 02:30, autumn DST", "2026-10-25T02:30+01:00"),
    ("New Year's Eve", "2026-12-31T16:00+01:00"),
)

COLUMNS = (
    "arrival",
    "received_at",
    "plan",
    "severity",
    "initial_due",
    "initial_target",
    "initial_clause",
    "ongoing_due",
    "ongoing_target",
    "ongoing_clause",
)


def _due(deadline: Deadline) -> str:
    if deadline.due is None:
        return ""
    return f"{deadline.due:%a} {deadline.due.isoformat(timespec='minutes')}"


def rows(policy: SlaPolicy | None = None) -> list[dict[str, str]]:
    """The table as computed by the current code and the bundled policy."""
    policy = policy or SlaPolicy.load()
    table: list[dict[str, str]] = []
    for label, text in ARRIVALS:
        received = datetime.fromisoformat(text)
        for plan in policy.plans:
            for severity in (1, 2, 3, 4):
                found = policy.deadlines(severity, plan, received)
                initial, ongoing = found.initial_response, found.ongoing_response
                table.append(
                    {
                        "arrival": label,
                        "received_at": f"{received:%a} {received.isoformat(timespec='minutes')}",
                        "plan": plan,
                        "severity": str(severity),
                        "initial_due": _due(initial),
                        "initial_target": initial.target or "",
                        "initial_clause": initial.clause,
                        "ongoing_due": _due(ongoing),
                        "ongoing_target": ongoing.target or "",
                        "ongoing_clause": ongoing.clause,
                    }
                )
    return table


def read() -> list[dict[str, str]]:
    with GOLDEN.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def main() -> int:
    with GOLDEN.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows())
    print(f"wrote {GOLDEN}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
