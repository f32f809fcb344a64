"""Rebuild the golden threads of the sample mailbox: ``python tests/golden/build_mail_golden.py``.

What `mail import` makes of examples/sample-mailbox.mbox, apart from the severities (which follow the rules and
the model): each message's outcome (request, follow-up, response, skipped or rejected, with the request it went to
and the reason), each request's events, and the record of each message. It was first written by the mail import
before issue 11 made it faster (commit b3b47a7), so `tests/intake/test_mail_import.py` holds the faster import to
the same threads. Rebuild only after a deliberate change of how mail is read or threaded, then review the diff.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sevtriage.intake.mail_files import read_mail_source
from sevtriage.intake.mail_import import MailDesk, MailRules
from sevtriage.store import DecisionStore
from sevtriage.triage import Triage

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "sample-mailbox.mbox"
GOLDEN = Path(__file__).with_name("mail_sample_threads.json")
CLOCK = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def threads(triage: Triage, store: DecisionStore, *, batch_size: int = 500) -> dict[str, Any]:
    """The sample mailbox imported into an empty `store`: outcomes, events and message records, as plain data."""
    policy = triage.sla
    assert policy is not None
    desk = MailDesk(triage, store, MailRules(default_plan=policy.default_plan), batch_size=batch_size)
    outcomes = []
    for outcome in desk.process(read_mail_source(SAMPLE)):
        where = outcome.where.rpartition("#")[2]
        outcomes.append([where, outcome.kind, outcome.request_id, outcome.skip_kind, outcome.reason])
    requests = sorted({o[2] for o in outcomes if o[2] is not None})
    events = {
        rid: [
            [e.kind, e.at.isoformat(), e.by, e.ref, e.note] for e in store.events(rid) if e.kind != "severity_changed"
        ]
        for rid in requests
    }
    records = {
        rid: [[r.message_id, r.kind, r.subject_key, r.sender, r.at.isoformat()] for r in store.mail_messages(rid)]
        for rid in requests
    }
    return {"outcomes": outcomes, "events": events, "records": records}


def main() -> None:
    triage = Triage.load()
    with (
        tempfile.TemporaryDirectory() as tmp,
        DecisionStore.open(f"sqlite:///{Path(tmp) / 'golden.db'}", clock=lambda: CLOCK) as store,
    ):
        found = threads(triage, store)
    # One line per message, event and record, so that a change reads well in a diff.
    lines = [
        "{",
        ' "outcomes": [',
        ",\n".join(f"  {json.dumps(o, ensure_ascii=False)}" for o in found["outcomes"]),
        " ],",
    ]
    for part in ("events", "records"):
        lines.append(f' "{part}": {{')
        entries = []
        for rid, rows in found[part].items():
            inner = ",\n".join(f"   {json.dumps(r, ensure_ascii=False)}" for r in rows)
            entries.append(f'  "{rid}": [\n{inner}\n  ]')
        lines.append(",\n".join(entries))
        lines.append(" }," if part == "events" else " }")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == found
    GOLDEN.write_text(text, encoding="utf-8")
    print(f"wrote {GOLDEN}", file=sys.stderr)


if __name__ == "__main__":
    main()
