"""Corpus facts for data/README.md, and the held-out split file.

Commands (run from the repository root with the project's Python)::

    python data/corpus_stats.py counts      # Markdown tables: severity x language, topics, tags
    python data/corpus_stats.py readme      # paste those counts into data/README.md
    python data/corpus_stats.py split       # (re)write data/heldout_ids.txt: 20% of each language x severity
    python data/corpus_stats.py duplicates  # near-duplicate pairs (word TF-IDF cosine > 0.9)
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections import Counter
from pathlib import Path

from sevtriage.model.corpus import HELDOUT_FILE, choose_heldout, near_duplicates, read_heldout_ids, read_labelled

DATA = Path(__file__).resolve().parent
LANGUAGES = ("en", "sk", "cs")


def counts() -> None:
    records = read_labelled(DATA)
    held = read_heldout_ids(DATA)
    table = Counter((r.language or "?", int(r.severity)) for r in records)
    print("| language | sev 1 | sev 2 | sev 3 | sev 4 | total | held out |")
    print("|---|---|---|---|---|---|---|")
    for lang in LANGUAGES:
        row = [table[(lang, s)] for s in (1, 2, 3, 4)]
        out = sum(1 for r in records if r.language == lang and r.id in held)
        print(f"| {lang} | " + " | ".join(str(v) for v in row) + f" | {sum(row)} | {out} |")
    totals = [sum(table[(lang, s)] for lang in LANGUAGES) for s in (1, 2, 3, 4)]
    print("| **all** | " + " | ".join(str(v) for v in totals) + f" | {len(records)} | {len(held)} |")
    print()
    topics = Counter(r.topic or "?" for r in records)
    print("Topics: " + ", ".join(f"{t} {n}" for t, n in topics.most_common()) + ".")
    print()
    tags = Counter(t for r in records for t in r.tags)
    print("Tags (tricky cases): " + ", ".join(f"{t} {n}" for t, n in tags.most_common()) + ".")
    lengths = sorted(len(r.subject) + len(r.body) for r in records)
    print()
    print(
        f"Length in characters (subject + body): min {lengths[0]}, median {lengths[len(lengths) // 2]}, "
        f"max {lengths[-1]}."
    )


def split() -> None:
    records = read_labelled(DATA)
    ids = choose_heldout(records, 0.2)
    header = (
        "# Held-out requests (never trained on; `sevtriage evaluate data/` uses them).\n"
        "# Made by `python data/corpus_stats.py split`: 20% of each language x severity group, by SHA-256 of the id.\n"
    )
    (DATA / HELDOUT_FILE).write_text(header + "\n".join(ids) + "\n", encoding="utf-8")
    print(f"wrote {len(ids)} of {len(records)} ids to {DATA / HELDOUT_FILE}")


def duplicates() -> None:
    for pair in near_duplicates(read_labelled(DATA)):
        print(f"{pair.first}\t{pair.second}\t{pair.similarity:.3f}")


def readme() -> None:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        counts()
    path = DATA / "README.md"
    text = path.read_text(encoding="utf-8")
    block = f"<!-- counts:start -->\n{buffer.getvalue()}<!-- counts:end -->"
    path.write_text(re.sub(r"<!-- counts:start -->.*<!-- counts:end -->", block, text, flags=re.S), encoding="utf-8")
    print(f"updated {path}")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "counts"
    {"counts": counts, "split": split, "duplicates": duplicates, "readme": readme}[command]()
