"""Write the decisions of a fixed set of requests, to compare two versions of the code byte for byte.

    python benchmarks/same_decisions.py OUT_DIR                                    # this checkout
    PYTHONPATH=/path/to/other/src python benchmarks/same_decisions.py OTHER_DIR    # another version
    cmp OUT_DIR/decisions.jsonl OTHER_DIR/decisions.jsonl && cmp OUT_DIR/decisions.csv OTHER_DIR/decisions.csv

The set: every request of `data/` (corpus, challenge, fresh) and `examples/`, then `--synthetic` generated ones
(sentences of the corpus shuffled together with browser and Android versions, reply subjects, quoted lines,
environments and odd spacing, so that scope notes, missing details, familiarity and the SLA all vary). Each gets
an arrival spread over two years and a plan. They are classified in batches of `--batch-size` (JSONL and CSV,
through the same writers as `sevtriage classify`) and, with `--one-by-one`, also one request at a time.
Only the public API is used, so the script runs on older versions of the code too.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sevtriage.intake.outputs import CsvWriter, JsonlWriter
from sevtriage.triage import Triage
from sevtriage.types import Ticket

ROOT = Path(__file__).resolve().parent.parent

# Scope wording: versions that are and are not certified, names alone, in the spellings customers use.
SCOPE_BITS = (
    "Chrome 49",
    "google chrome 120",
    "Chromium v. 90",
    "chrome",
    "Firefox 102",
    "mozilla firefox version 128",
    "Edge 108",
    "microsoft-edge 120",
    "Safari 14.1",
    "safari 17",
    "Internet Explorer",
    "IE 11",
    "ie8",
    "msie",
    "Android 7",
    "Androide 6.0",
    "androidu 9",
    "Android version 5.1.1",
    "Android 12GB",
    "android",
    "the web client",
    "on the Android app",
    "we restarted the terminal",
    "there is no workaround",
    "since the update yesterday",
)
ENVIRONMENTS = ("production", "staging", "test", "UAT", "Dev", "")


def corpus_rows() -> list[dict[str, str]]:
    paths = [*sorted((ROOT / "data").glob("**/*.jsonl")), ROOT / "examples" / "requests.jsonl"]
    rows: list[dict[str, str]] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                if "subject" in record or "body" in record:
                    rows.append({"subject": record.get("subject") or "", "body": record.get("body") or ""})
    return rows


def synthetic_rows(corpus: list[dict[str, str]], count: int, seed: int = 13) -> list[dict[str, str]]:
    """Requests mixed from corpus sentences and scope wording (deterministic for a seed)."""
    rng = random.Random(seed)
    sentences = [s for row in corpus for s in re.split(r"(?<=[.!?\n])\s+", row["body"]) if s.strip()]
    subjects = [row["subject"] for row in corpus if row["subject"]]
    out: list[dict[str, str]] = []
    for _ in range(count):
        parts = rng.sample(sentences, rng.randint(1, 4)) + rng.sample(SCOPE_BITS, rng.randint(0, 3))
        rng.shuffle(parts)
        body = rng.choice(("\n", " ", "  ", ". ", "\n\n")).join(parts)
        if rng.random() < 0.15:
            body = body.upper()
        if rng.random() < 0.1:
            body += "\n\n> earlier message quoted\n> Chrome 49 here"
        if rng.random() < 0.1:
            body += "\n\nBest regards,\nJana\nIT, Example s.r.o."
        subject = rng.choice(subjects) if rng.random() < 0.8 else ""
        if rng.random() < 0.15:
            subject = "Re: " + subject
        out.append({"subject": subject, "body": body, "environment": rng.choice(ENVIRONMENTS)})
    return out


def tickets(count: int) -> list[Ticket]:
    corpus = corpus_rows()
    rows = corpus + synthetic_rows(corpus, count)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for n, row in enumerate(rows):
        plan = ("premier", "standard", None)[n % 3]
        received = None if n % 97 == 5 else start + timedelta(minutes=(7919 * n) % (2 * 365 * 24 * 60))
        extra = {"environment": row["environment"]} if row.get("environment") else {}
        out.append(Ticket(f"R-{n}", row["subject"], row["body"], received, plan, extra))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for decisions.jsonl and decisions.csv")
    parser.add_argument("--synthetic", type=int, default=3000, help="generated requests after the data files")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--one-by-one", action="store_true", help="also classify each request alone")
    args = parser.parse_args()
    triage = Triage.load()
    requests = tickets(args.synthetic)
    args.out.mkdir(parents=True, exist_ok=True)
    decided = []
    for at in range(0, len(requests), args.batch_size):
        batch = requests[at : at + args.batch_size]
        decided.extend(zip(batch, triage.classify_many(batch), strict=True))
    with open(args.out / "decisions.jsonl", "w", encoding="utf-8", newline="") as sink:
        JsonlWriter(sink).write(decided)
    with open(args.out / "decisions.csv", "w", encoding="utf-8", newline="") as sink:
        CsvWriter(sink).write(decided)
    if args.one_by_one:
        alone = io.StringIO()
        JsonlWriter(alone).write([(t, triage.classify(t)) for t in requests])
        (args.out / "one-by-one.jsonl").write_text(alone.getvalue(), encoding="utf-8")
    for name in ("decisions.jsonl", "decisions.csv", "one-by-one.jsonl"):
        path = args.out / name
        if path.exists():
            print(f"{path}: {hashlib.sha256(path.read_bytes()).hexdigest()[:16]}")
    print(f"{len(requests)} requests (rules {triage.rules_version}, model {triage.model_version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
