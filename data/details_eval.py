"""Precision and recall of `scope` and `missing_details` against data/details-labels.jsonl (labelled by hand).

Run: python data/details_eval.py   (from the repository root)
"""

from __future__ import annotations

import json
from pathlib import Path

from sevtriage import Ticket
from sevtriage.rules.stage import RuleStage
from sevtriage.types import DETAIL_ITEMS, SCOPE_KINDS

HERE = Path(__file__).resolve().parent


def main() -> None:
    labels = {}
    for line in (HERE / "details-labels.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        labels[row["id"]] = row
    texts = {}
    for path in sorted((HERE / "corpus").glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row["id"] in labels:
                texts[row["id"]] = row
    stage = RuleStage.load(engine="python")
    counts = {item: [0, 0, 0] for item in (*DETAIL_ITEMS, *SCOPE_KINDS)}  # tp, fp, fn
    for request_id, label in labels.items():
        row = texts[request_id]
        found = stage.scope_of(Ticket(id=request_id, subject=row.get("subject", ""), body=row.get("body", "")))
        said = {*found.missing, *(n.kind for n in found.notes)}
        truth = {*label["missing_details"], *label["scope"]}
        for item in counts:
            if item in said and item in truth:
                counts[item][0] += 1
            elif item in said:
                counts[item][1] += 1
            elif item in truth:
                counts[item][2] += 1
    print(f"{len(labels)} hand-labelled corpus requests")
    print(f"{'item':26} {'labelled':>8} {'flagged':>7} {'precision':>9} {'recall':>6}")
    for item, (tp, fp, fn) in counts.items():
        precision = f"{tp / (tp + fp):.2f}" if tp + fp else "-"
        recall = f"{tp / (tp + fn):.2f}" if tp + fn else "-"
        print(f"{item:26} {tp + fn:>8} {tp + fp:>7} {precision:>9} {recall:>6}")


if __name__ == "__main__":
    main()
