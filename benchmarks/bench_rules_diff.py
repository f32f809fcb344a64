"""`rules diff --store` over a large store: time and peak memory against evaluating one rule file in memory.

Run:  .venv/bin/python benchmarks/bench_rules_diff.py [--n 100000] [--store sqlite:///path.db]

Builds a SQLite store of N requests (corpus texts, arrivals five minutes apart, a third Premier, one in eleven
without a plan, one in sixty reviewed), unless --store names one built before. The baseline, in a child process
of its own: read the same requests with `DecisionStore.diff_requests` (everything in memory) and evaluate the
bundled rules over them once, the least any tool that looks at each request under one rule file does. The
measured run, also a child process: `sevtriage rules diff rules/severity.yaml EDITED --store URL --format json`,
where EDITED changes one rule's severity (its signals stay the same, so the two files share the signal work).
Printed: wall and CPU seconds and peak RSS of each, and their ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


def build(url: str, n: int) -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_store import make_pairs

    from sevtriage.store import DecisionStore

    texts = []
    for path in sorted((ROOT / "data" / "corpus").glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts.append((row["subject"], row["body"]))
    with DecisionStore.open(url) as store:
        for first in range(0, n, 5000):
            batch = []
            for k, (ticket, decision) in enumerate(make_pairs(min(5000, n - first))):
                i = first + k
                subject, body = texts[i % len(texts)]
                request_id = f"S-{i:07d}"
                # Spread over the day and the week so that some Premier deadlines land at night.
                arrived = START + timedelta(minutes=5 * i + (i * 37) % 300)
                plan = None if i % 11 == 0 else ("premier" if i % 3 == 0 else "standard")
                ticket = replace(ticket, id=request_id, subject=subject, body=body, received_at=arrived, plan=plan)
                decision = replace(decision, id=request_id, received_at=arrived, plan=plan, needs_review=i % 3 != 0)
                batch.append((ticket, decision))
            store.save_many(batch)
        for i in range(1, n, 60):
            item = store.get(f"S-{i:07d}")
            store.review(item.id, actor="bench", expected_version=item.version, action="accept")


BASELINE = """
import sys, time
from sevtriage.rules.stage import RuleStage
from sevtriage.store import DecisionStore
stage = RuleStage.load()
began = time.perf_counter()
with DecisionStore.open(sys.argv[1]) as store:
    rows = store.diff_requests()
verdicts = stage.evaluate_many([ticket for ticket, _ in rows])
print(len(verdicts), time.perf_counter() - began)
"""

# Runs the CLI in this process and reports its own peak RSS on stderr (a parent's RUSAGE_CHILDREN is the largest
# of all children so far, so each child measures itself).
CLI = """
import resource, sys
from sevtriage.cli import main
code = main(sys.argv[1:])
use = resource.getrusage(resource.RUSAGE_SELF)
print(f"peak_kib={use.ru_maxrss} cpu_s={use.ru_utime + use.ru_stime}", file=sys.stderr)
sys.exit(code)
"""
PEAK = """
import resource
use = resource.getrusage(resource.RUSAGE_SELF)
print(f"peak_kib={use.ru_maxrss} cpu_s={use.ru_utime + use.ru_stime}", file=sys.stderr)
"""


def child(args: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, the child's own peak RSS (MiB) and its stdout.

    CPU time is printed beside wall time because on a shared machine the wall clock measures the neighbours too.
    """
    began = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - began
    line = next(line for line in done.stderr.splitlines() if line.startswith("peak_kib="))
    peak, cpu = (part.split("=")[1] for part in line.split())
    return seconds, float(cpu), int(peak) / 1024, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="requests in the store (default 100,000)")
    parser.add_argument("--store", default=None, help="use this store instead of building one")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = options.store or f"sqlite:///{Path(tmp) / 'store.db'}"
        if options.store is None:
            began = time.perf_counter()
            build(url, options.n)
            print(f"built a store of {options.n:,} requests in {time.perf_counter() - began:.1f} s")
        source = (ROOT / "rules" / "severity.yaml").read_text(encoding="utf-8")
        edited = Path(tmp) / "edited.yaml"
        marker = "  - id: serious-performance\n    severity: 2\n"
        assert marker in source, "the bench edits serious-performance's severity; update the marker"
        edited.write_text(source.replace(marker, marker.replace("severity: 2", "severity: 1")), encoding="utf-8")
        base_s, base_cpu, base_mb, out = child([sys.executable, "-c", BASELINE + PEAK, url])
        rows = int(out.split()[0])
        diff_s, diff_cpu, diff_mb, out = child(
            [
                sys.executable,
                "-c",
                CLI,
                "rules",
                "diff",
                str(ROOT / "rules" / "severity.yaml"),
                str(edited),
                "--store",
                url,
                "--format",
                "json",
            ]
        )
        report = json.loads(out)
        assert report["rows"] == rows, (report["rows"], rows)
        print(f"requests: {rows:,} ({report['labelled']:,} reviewed), {report['changed']:,} change verdict")
        print(f"baseline (one rule file, all in memory): {base_s:.1f} s, CPU {base_cpu:.1f} s, peak {base_mb:.0f} MiB")
        print(f"rules diff --store (two files, streamed): {diff_s:.1f} s, CPU {diff_cpu:.1f} s, peak {diff_mb:.0f} MiB")
        print(
            f"ratio: wall {diff_s / base_s:.2f}x, CPU {diff_cpu / base_cpu:.2f}x, peak memory {diff_mb / base_mb:.2f}x"
        )


if __name__ == "__main__":
    main()
