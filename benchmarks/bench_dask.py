"""The README's Dask recipe on a local cluster of worker processes, checked against the CLI on the same rows.

    python benchmarks/bench_dask.py --rows 1000000 --workers 2   # the issue's size
    python benchmarks/bench_dask.py --rows 10000                 # quick

Writes `--rows` requests (the corpus texts, unique ids) as `;`-separated CSV files of 100,000 rows, runs
`dd.read_csv(..., sep=";", dtype=str).map_partitions(classify_partition, meta=output_meta()).to_parquet(...)` on a
`distributed.LocalCluster` (one thread per worker process), then `sevtriage classify` on the same files
(`--workers` as many), and compares the decisions per id: severity, source, needs review, matched rules,
model severity and both deadlines (as UTC instants).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import write_requests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from sevtriage.appliers import classify_partition, output_meta

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jsonl = folder / "requests.jsonl"
        write_requests(jsonl, args.rows)
        fields = ["id", "subject", "body", "received_at", "plan"]
        files: list[Path] = []
        with open(jsonl, encoding="utf-8") as source:
            out = None
            for n, line in enumerate(source):
                if n % 100_000 == 0:
                    if out is not None:
                        out.close()
                    files.append(folder / f"archive-{len(files):03d}.csv")
                    out = open(files[-1], "w", encoding="utf-8", newline="")  # noqa: SIM115
                    writer = csv.DictWriter(out, fields, delimiter=";")
                    writer.writeheader()
                writer.writerow(json.loads(line))
            if out is not None:
                out.close()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True) as cluster, Client(cluster):
            started = time.perf_counter()
            requests = dd.read_csv(str(folder / "archive-*.csv"), sep=";", dtype=str)
            decisions = requests.map_partitions(classify_partition, meta=output_meta())
            decisions.to_parquet(str(folder / "decisions"))
            dask_seconds = time.perf_counter() - started
        print(
            f"Dask, {args.workers} worker processes: {args.rows / dask_seconds:,.0f} requests/s ({dask_seconds:.1f} s)"
        )
        started = time.perf_counter()
        outputs = []
        for path in files:
            target = path.with_suffix(".decisions.jsonl")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "sevtriage",
                    "classify",
                    str(path),
                    "-o",
                    str(target),
                    "-q",
                    "--workers",
                    str(args.workers),
                ],
                check=True,
            )
            outputs.append(target)
        cli_seconds = time.perf_counter() - started
        print(f"CLI, --workers {args.workers}: {args.rows / cli_seconds:,.0f} requests/s ({cli_seconds:.1f} s)")
        ours = pd.read_parquet(folder / "decisions", dtype_backend="pyarrow").set_index("id")
        differ = 0
        for target in outputs:
            for line in target.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                row = ours.loc[record["id"]]
                deadlines = record["deadlines"] or {}
                for kind in ("initial_response", "ongoing_response"):
                    due = (deadlines.get(kind) or {}).get("due")
                    theirs = row[f"{kind}_due"]
                    same = (due is None and pd.isna(theirs)) or (
                        due is not None and pd.Timestamp(due) == pd.Timestamp(theirs)
                    )
                    differ += not same
                differ += int(row["severity"]) != record["severity"]
                differ += row["source"] != record["source"]
                differ += bool(row["needs_review"]) != record["needs_review"]
                differ += list(row["matched_rules"]) != [m["id"] for m in record["matched_rules"]]
                differ += int(row["model_severity"]) != record["model"]["severity"]
        print(f"decisions compared: {len(ours):,}; fields that differ: {differ}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
