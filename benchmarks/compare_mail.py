"""Dump what `mail import` makes of a few mailboxes, to compare two versions of sevtriage result for result.

Run it once per version into its own folder, then diff the folders, e.g. before and after a speed change
(issue 11):

    git archive OLD | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/src .venv/bin/python benchmarks/compare_mail.py /tmp/dump-old
    .venv/bin/python benchmarks/compare_mail.py /tmp/dump-new
    diff -r /tmp/dump-old /tmp/dump-new && echo same

For each mailbox (the benchmark's generated messages, examples/sample-mailbox.mbox at two batch sizes, and the
test corpus of tests/intake/mail_corpus.py) it writes: every parse result (`parse.txt`), every outcome of
`MailDesk.process` (`outcomes.jsonl`: decisions, skips with reasons, rejects, thread links) and the store's tables
(`store.txt`: requests, events, actions, message records) from a store with a fixed clock, without the
autoincrement ids (their order across requests depends on when each batch is written; the order within a request
is kept).
"""

from __future__ import annotations

import argparse
import json
import mailbox
import re
import sqlite3
import sys
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(1, str(ROOT))  # for benchmarks/ and tests/; sevtriage comes from PYTHONPATH or the install

from benchmarks.bench_mail import _message  # noqa: E402

from sevtriage.intake.mail import parse_mail  # noqa: E402
from sevtriage.intake.mail_files import RawMail, read_mail_source  # noqa: E402
from sevtriage.intake.mail_import import MailDesk, MailRules  # noqa: E402
from sevtriage.store import DecisionStore  # noqa: E402
from sevtriage.triage import Triage  # noqa: E402

CLOCK = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TABLES = {
    "requests": "SELECT * FROM requests ORDER BY id",
    "events": "SELECT * FROM events ORDER BY request_id, id",
    "actions": "SELECT * FROM actions ORDER BY request_id, id",
    "mail_messages": "SELECT * FROM mail_messages ORDER BY message_id",
}


def _dump_store(path: Path, out: Path) -> None:
    with sqlite3.connect(path) as conn, out.open("w", encoding="utf-8") as stream:
        for table, query in TABLES.items():
            cursor = conn.execute(query)
            names = [d[0] for d in cursor.description]
            stream.write(f"## {table}: {', '.join(n for n in names if n != 'id' or table == 'requests')}\n")
            for row in cursor:
                values = [v for n, v in zip(names, row, strict=True) if n != "id" or table == "requests"]
                stream.write(json.dumps(values, ensure_ascii=False, default=str) + "\n")


def _run(triage: Triage, name: str, items: list[RawMail], batch: int, support: Iterable[str], out: Path) -> None:
    folder = out / name
    folder.mkdir(parents=True)
    with (folder / "parse.txt").open("w", encoding="utf-8") as stream:
        for item in items:
            stream.write(repr(parse_mail(item.raw, item.where, arrived_at=item.arrived_at)) + "\n")
    policy = triage.sla
    assert policy is not None
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "store.db"
        with DecisionStore.open(f"sqlite:///{db}", clock=lambda: CLOCK) as store:
            rules = MailRules(support=frozenset(support), default_plan=policy.default_plan)
            desk = MailDesk(triage, store, rules, batch_size=batch)
            with (folder / "outcomes.jsonl").open("w", encoding="utf-8") as stream:
                for outcome in desk.process(items):
                    stream.write(json.dumps(outcome.to_dict(), ensure_ascii=False) + "\n")
            summary = desk.summary.to_dict()
            summary.pop("seconds")
            (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        _dump_store(db, folder / "store.txt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="an empty or new folder for the dumps")
    parser.add_argument("--messages", type=int, default=10_000, help="generated messages (as bench_mail.py)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    triage = Triage.load()
    with tempfile.TemporaryDirectory() as tmp:
        box_path = Path(tmp) / "bench.mbox"
        box = mailbox.mbox(box_path)
        for i in range(args.messages):
            box.add(_message(i))
        box.flush()
        box.close()
        bench = list(read_mail_source(box_path))
    # The `where` of the generated mailbox names a temporary file; keep only the message number.
    bench = [RawMail(f"bench.mbox#{i}", m.raw, m.arrived_at) for i, m in enumerate(bench, start=1)]
    _run(triage, "bench", bench, 1000, (), args.out)
    sample = list(read_mail_source(ROOT / "examples" / "sample-mailbox.mbox"))
    _run(triage, "sample-batch-500", sample, 500, (), args.out)
    _run(triage, "sample-batch-7", sample, 7, (), args.out)
    _run(triage, "sample-support", sample, 500, ("@managra.example",), args.out)
    from tests.intake.mail_corpus import cases

    # The corpus makes new Message-IDs on every run; give each case a fixed one so that two runs compare.
    corpus = [
        RawMail(c.name, re.sub(rb"(?im)^(message-id:\s*)<[^>]*>", rb"\1<corpus-%d@acme.example>" % i, c.raw))
        for i, c in enumerate(cases())
    ]
    _run(triage, "corpus", corpus, 500, (), args.out)
    print(f"dumps in {args.out}")


if __name__ == "__main__":
    main()
