"""The README's Dask recipe, executed from README.md itself, on a local cluster, checked against the CLI.

    nice -n 5 python benchmarks/bench_dask.py --rows 1000000   # the issue's size, 2 worker processes
    python benchmarks/bench_dask.py --rows 20000               # quick

Writes `--rows` requests (the texts of `data/corpus` cycled with unique ids, arrivals spread over two years, both
plans; `bench_batch.write_requests`) as `;`-separated CSV files of `--rows-per-file` rows named `archive-NNN.csv`,
and the same rows as one file for the CLI. Then, in that folder:

1. starts `LocalCluster(n_workers=2, threads_per_worker=1)` with a `Client` and executes the README's code block
   (the Python block that calls `to_parquet`), as written, so the README cannot drift from what was measured;
2. runs `sevtriage classify all-requests.csv --workers 2` (one call, JSONL out, the CLI's default format);
3. compares every column the two outputs share, per id (see `compare`).

Reports wall time and requests/s of both, the peak RSS of each worker process (Dask: `getrusage` inside each
worker; CLI: polled with psutil over the process tree, every 0.2 s), and the load average during each run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import write_requests

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ["id", "subject", "body", "received_at", "plan"]


def readme_recipe() -> str:
    """The README's Dask code block: the Python block that writes Parquet."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "to_parquet" in block)


def write_inputs(folder: Path, rows: int, per_file: int) -> Path:
    """`archive-NNN.csv` files for the recipe and `all-requests.csv` (the same rows, one file) for the CLI."""
    jsonl = folder / "requests.jsonl"
    write_requests(jsonl, rows)
    whole = folder / "all-requests.csv"
    with open(jsonl, encoding="utf-8") as source, open(whole, "w", encoding="utf-8", newline="") as all_out:
        all_writer = csv.DictWriter(all_out, FIELDS, delimiter=";")
        all_writer.writeheader()
        part = None
        for n, line in enumerate(source):
            if n % per_file == 0:
                if part is not None:
                    part.close()
                part = open(folder / f"archive-{n // per_file:03d}.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
                part_writer = csv.DictWriter(part, FIELDS, delimiter=";")
                part_writer.writeheader()
            record = json.loads(line)
            part_writer.writerow(record)
            all_writer.writerow(record)
        if part is not None:
            part.close()
    jsonl.unlink()
    return whole


class Watch:
    """Polls the load average and the RSS of every process below this one while a run lasts."""

    def __init__(self) -> None:
        self.loads: list[float] = []
        self.peaks: dict[int, tuple[float, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.2):
            self.loads.append(os.getloadavg()[0])
            for child in me.children(recursive=True):
                try:
                    rss = child.memory_info().rss / 2**20
                    name = " ".join(child.cmdline()[1:4])
                except psutil.Error:
                    continue
                if rss > self.peaks.get(child.pid, (0.0, ""))[0]:
                    self.peaks[child.pid] = (rss, name)

    @contextmanager
    def running(self) -> Iterator[Watch]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()

    def load(self) -> str:
        if not self.loads:
            return "n/a"
        return f"min {min(self.loads):.1f}, mean {sum(self.loads) / len(self.loads):.1f}, max {max(self.loads):.1f}"


@contextmanager
def working_directory(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _worker_peak_mib() -> float:
    """Peak RSS of the calling process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_recipe(folder: Path, workers: int) -> tuple[float, dict[str, float], str]:
    """Seconds for the README's block on a fresh LocalCluster, each worker's peak RSS (MiB), the load average."""
    from distributed import Client, LocalCluster

    recipe = readme_recipe()
    print("README recipe, as executed:\n" + "".join(f"    {line}\n" for line in recipe.splitlines()))
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
        working_directory(folder),
        Watch().running() as watch,
    ):
        started = time.perf_counter()
        exec(compile(recipe, "README.md recipe", "exec"), {})  # our own README's code, the point of this bench
        seconds = time.perf_counter() - started
        peaks = client.run(_worker_peak_mib)
    return seconds, peaks, watch.load()


def run_cli(folder: Path, source: Path, workers: int) -> tuple[float, list[tuple[float, str]], str, Path]:
    """Seconds for `sevtriage classify` over all rows, the peak RSS (MiB) of each of its processes, the load."""
    target = folder / "cli-decisions.jsonl"
    command = [sys.executable, "-m", "sevtriage", "classify", str(source), "-o", str(target), "-q"]
    command += ["--workers", str(workers)]
    print("CLI: " + " ".join(["sevtriage", *command[3:]]))
    with Watch().running() as watch:
        started = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - started
    return seconds, sorted(watch.peaks.values(), reverse=True), watch.load(), target


def _flat_from_json(record: dict[str, Any]) -> dict[str, Any]:
    """The CLI's JSONL record, read back into the recipe's flat columns (written here, independently of
    `outputs.flat_record`, so that a mistake there would show as a difference)."""
    model = record.get("model") or {}
    probabilities = model.get("probabilities") or {}
    deadlines = record.get("deadlines") or {}
    flat: dict[str, Any] = {
        "id": record["id"],
        "severity": record["severity"],
        "severity_name": record["severity_name"],
        "source": record["source"],
        "confidence": record["confidence"],
        "needs_review": record["needs_review"],
        "review_reasons": record["review_reasons"],
        "matched_rules": [m["id"] for m in record["matched_rules"]],
        "matched_severities": [m["severity"] for m in record["matched_rules"]],
        "evidence": [e for m in record["matched_rules"] for e in m["evidence"]],
        "model_severity": model.get("severity"),
        "model_top_terms": model.get("top_terms") or [],
        "plan": record["plan"],
        "received_at": _instant(record["received_at"]),
        "scope": list(dict.fromkeys(note["kind"] for note in record["scope"])),
        "scope_evidence": [e for note in record["scope"] for e in note["evidence"]],
        "missing_details": record["missing_details"],
        "rules_version": record["rules_version"],
        "model_version": record["model_version"],
    }
    for severity in (1, 2, 3, 4):
        flat[f"model_p{severity}"] = probabilities.get(str(severity)) if model else None
    for kind in ("initial_response", "ongoing_response"):
        deadline = deadlines.get(kind) or {}
        flat[f"{kind}_due"] = _instant(deadline.get("due"))
        flat[f"{kind}_target"] = deadline.get("target")
    return flat


def _instant(value: str | None) -> pd.Timestamp | None:
    """JSON keeps each instant's own offset (the policy's zone); Parquet stores UTC: compare them as instants."""
    return None if value is None else pd.Timestamp(value).tz_convert("UTC")


def _cell(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.tz_convert("UTC")
    if hasattr(value, "tzinfo") and value.tzinfo is not None:  # pyarrow gives datetimes with UTC
        return pd.Timestamp(value).tz_convert("UTC")
    return value


def compare(parquet: Path, cli_jsonl: Path) -> tuple[int, int, dict[str, int], list[str], list[str]]:
    """Rows in Parquet, records from the CLI, differences per shared column, columns compared, Parquet-only ones."""
    table = pq.read_table(parquet)
    ids = table.column("id").to_pylist()
    where = {key: n for n, key in enumerate(ids)}
    duplicates = len(ids) - len(where)
    if duplicates:
        print(f"ids duplicated in the Parquet output: {duplicates}")
    columns: dict[str, list[Any]] = {}
    differ: dict[str, int] = {}
    shown = 0
    records = 0
    with open(cli_jsonl, encoding="utf-8") as source:
        for line in source:
            flat = _flat_from_json(json.loads(line))
            records += 1
            if not columns:
                columns = {name: table.column(name).to_pylist() for name in flat}
                differ = dict.fromkeys(flat, 0)
            row = where.get(flat["id"])
            if row is None:
                differ["id"] += 1
                continue
            for name, expected in flat.items():
                if _cell(columns[name][row]) != expected:
                    differ[name] += 1
                    if shown < 10:
                        shown += 1
                        print(f"  differs: {flat['id']} {name}: parquet {columns[name][row]!r}, CLI {expected!r}")
    only_parquet = [name for name in table.column_names if name not in columns]
    rejected = sum(1 for value in table.column("reject_reason").to_pylist() if value is not None)
    if rejected:
        print(f"rows rejected by the recipe: {rejected}")
    return table.num_rows, records, differ, list(columns), only_parquet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rows-per-file", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes and CLI --workers")
    args = parser.parse_args()
    print(f"nice {os.nice(0)}, {os.cpu_count()} cores, load average at start {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        whole = write_inputs(folder, args.rows, args.rows_per_file)
        print(f"wrote {args.rows:,} rows in {time.perf_counter() - started:.0f} s")

        dask_seconds, dask_peaks, dask_load = run_recipe(folder, args.workers)
        print(
            f"Dask recipe, {args.workers} worker processes: {args.rows / dask_seconds:,.0f} requests/s, "
            f"{dask_seconds:.1f} s; load average {dask_load}"
        )
        for worker, peak in sorted(dask_peaks.items()):
            print(f"  peak RSS {peak:,.0f} MiB  worker {worker}")

        cli_seconds, cli_peaks, cli_load, cli_out = run_cli(folder, whole, args.workers)
        print(
            f"CLI --workers {args.workers}: {args.rows / cli_seconds:,.0f} requests/s, {cli_seconds:.1f} s; "
            f"load average {cli_load}"
        )
        for peak, name in cli_peaks:
            print(f"  peak RSS {peak:,.0f} MiB  {name}")
        print(f"ratio Dask / CLI throughput: {cli_seconds / dask_seconds:.2f}")

        rows, records, differ, shared, only_parquet = compare(folder / "decisions", cli_out)
        print(f"Parquet rows {rows:,}, CLI records {records:,}; compared per id: {', '.join(shared)}")
        print(f"only in Parquet: {', '.join(only_parquet)}")
        print(f"differences per column: {differ}; total {sum(differ.values())}")
        print(f"load average at end {os.getloadavg()}")
        return 0 if rows == records == args.rows and not any(differ.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
