"""Batch intake throughput: read, validate, rules, model, SLA, write, against the same file through rules only.

    python benchmarks/bench_batch.py                 # 100,000 requests, durable-rules engine, pinned to one core
    python benchmarks/bench_batch.py --rows 20000 --profile   # where the time goes (cProfile, top functions)
    python benchmarks/bench_batch.py --rows 1000000 --memory  # streaming proof: peak RSS at several points

The requests are the texts of our own corpus (`data/corpus`, or the bundled examples when it is absent),
each repeated with a unique id, a spread of arrival instants and both plans.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from sevtriage.intake.outputs import JsonlWriter, RejectsWriter
from sevtriage.intake.pipeline import intake_rules_for, run
from sevtriage.intake.readers import read_rows, validate
from sevtriage.resources import example_requests_path
from sevtriage.triage import Triage
from sevtriage.types import Ticket

ROOT = Path(__file__).resolve().parent.parent


def _texts() -> list[tuple[str, str]]:
    corpus = sorted((ROOT / "data" / "corpus").glob("*/*.jsonl")) or [example_requests_path()]
    texts: list[tuple[str, str]] = []
    for path in corpus:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                texts.append((record.get("subject") or "", record.get("body") or ""))
    return texts


def write_requests(path: Path, rows: int) -> None:
    """`rows` JSONL requests cycling through the corpus texts, arrivals spread over two years."""
    texts = _texts()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with open(path, "w", encoding="utf-8") as handle:
        for n in range(rows):
            subject, body = texts[n % len(texts)]
            received = (start + timedelta(minutes=7 * n % (2 * 365 * 24 * 60))).isoformat()
            record = {
                "id": f"R-{n}",
                "subject": subject,
                "body": body,
                "received_at": received,
                "plan": "premier" if n % 3 == 0 else "standard",
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def end_to_end(triage: Triage, source: Path, out: Path, batch_size: int, marks: list[int] | None = None) -> float:
    """Seconds for the whole pipeline: read, validate, classify (rules, model, SLA), write JSONL."""
    rss: dict[int, tuple[float, float, float]] = {}
    me = psutil.Process()

    def progress(done: int) -> None:
        if marks is not None and done in marks:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rss[done] = (me.memory_info().rss / 2**20, peak, time.perf_counter() - started)

    started = time.perf_counter()
    with open(source, "rb") as stream, open(out, "w", encoding="utf-8", newline="") as sink:
        _, rows = read_rows(stream, name=str(source))
        summary = run(
            triage,
            validate(rows, intake_rules_for(triage)),
            JsonlWriter(sink),
            RejectsWriter(out.with_suffix(".rejects.jsonl")),
            batch_size=batch_size,
            progress=progress if marks is not None else None,
        )
    seconds = time.perf_counter() - started
    assert summary.rejects == 0, summary
    if marks is not None:
        print(f"  {'rows':>10} {'RSS MiB':>8} {'peak MiB':>9} {'seconds':>8}")
        for done, (current, peak, at) in sorted(rss.items()):
            print(f"  {done:10,d} {current:8.1f} {peak:9.1f} {at:8.1f}")
    return seconds


def intake_only(triage: Triage, source: Path) -> tuple[float, list[Ticket]]:
    """Seconds to read and validate the file (the part of the pipeline before classification)."""
    started = time.perf_counter()
    with open(source, "rb") as stream:
        _, rows = read_rows(stream, name=str(source))
        tickets = [item[1] for item in validate(rows, intake_rules_for(triage)) if isinstance(item, tuple)]
    return time.perf_counter() - started, tickets


def classify_only(triage: Triage, tickets: list[Ticket], batch_size: int) -> float:
    """Seconds for `classify_many` over already validated requests, in batches."""
    started = time.perf_counter()
    for at in range(0, len(tickets), batch_size):
        triage.classify_many(tickets[at : at + batch_size])
    return time.perf_counter() - started


def write_only(triage: Triage, tickets: list[Ticket], out: Path, batch_size: int) -> float:
    """Seconds to write as many JSONL decisions as there are requests (one batch's decisions, repeated)."""
    pairs = list(zip(tickets[:batch_size], triage.classify_many(tickets[:batch_size]), strict=True))
    started = time.perf_counter()
    with open(out, "w", encoding="utf-8", newline="") as sink:
        writer = JsonlWriter(sink)
        for at in range(0, len(tickets), batch_size):
            writer.write(pairs[: min(batch_size, len(tickets) - at)])
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--engine", choices=["durable", "python"], default="durable")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="profile the end-to-end run and print the top 25")
    parser.add_argument("--memory", action="store_true", help="print peak RSS at several points (streaming proof)")
    parser.add_argument("--all-cores", action="store_true", help="do not pin the process to one core")
    parser.add_argument("--repeat", type=int, default=3, help="alternating baseline / end-to-end runs (median)")
    parser.add_argument("--workers", default=None, help="also run the pipeline with these worker counts, e.g. 1,2")
    args = parser.parse_args()

    cores = set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set()
    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(cores)})
    triage = Triage.load(engine=args.engine)
    print(f"sevtriage batch benchmark: {args.rows:,} requests, engine {triage.rule_stage.engine_name}, ", end="")
    print(
        f"model {triage.model_version or 'none'}, cores {len(os.sched_getaffinity(0))}, Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "requests.jsonl"
        write_requests(source, args.rows)
        print(f"  input: {source.stat().st_size / 2**20:.1f} MiB JSONL")
        out = Path(tmp) / "decisions.jsonl"
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            end_to_end(triage, source, out, args.batch_size)
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
            print(text.getvalue())
            return 0
        marks = None
        if args.memory:
            marks = sorted({m for m in (1_000, 10_000, 100_000, 250_000, 500_000, 750_000) if m < args.rows})
            marks.append(args.rows - args.rows % args.batch_size or args.rows)
            full = end_to_end(triage, source, out, args.batch_size, marks)
            print(f"  end to end: {args.rows / full:,.0f} requests/s ({full:.1f} s)")
            return 0
        n = args.rows
        rules_triage = Triage(triage.rule_stage)  # the same compiled rules, no model and no SLA policy
        _, tickets = intake_only(triage, source)
        # Alternate baseline and end to end, so that both see the same load on a shared machine; medians.
        base_runs: list[tuple[float, float]] = []
        full_runs: list[tuple[float, float]] = []
        for _ in range(args.repeat):
            # The baseline under the same garbage-collector setting as the pipeline's `run` (when it has one).
            base_runs.append(
                clocked(
                    lambda: _as_run_does(
                        lambda: (intake_only(triage, source), classify_only(rules_triage, tickets, 1000))
                    )
                )
            )
            full_runs.append(clocked(lambda: end_to_end(triage, source, out, args.batch_size)))
        base_wall, base_cpu = median(w for w, _ in base_runs), median(c for _, c in base_runs)
        full_wall, full_cpu = median(w for w, _ in full_runs), median(c for _, c in full_runs)
        print(f"  medians of {args.repeat} alternating runs     wall clock           CPU time of the process")
        for label, wall, cpu in (
            ("baseline, rules only (read+validate+rules)", base_wall, base_cpu),
            ("end to end (read, rules, model, SLA, write)", full_wall, full_cpu),
        ):
            print(f"  {label:44s} {n / wall:8,.0f} requests/s {n / cpu:8,.0f} requests/s ({1e6 * cpu / n:.0f} us)")
        ratios = f"wall {base_wall / full_wall:.2f}, CPU {base_cpu / full_cpu:.2f}"
        print(f"  ratio end-to-end / rules-only throughput: {ratios}")
        print("  where the end-to-end time goes (each part timed alone, same requests, CPU time, GC as in `run`):")
        read_s = clocked(lambda: _as_run_does(lambda: intake_only(triage, source)))[1]
        classify_s = clocked(lambda: _as_run_does(lambda: classify_only(triage, tickets, args.batch_size)))[1]
        rules_s = clocked(lambda: _as_run_does(lambda: classify_only(rules_triage, tickets, args.batch_size)))[1]
        write_s = clocked(
            lambda: _as_run_does(lambda: write_only(triage, tickets, Path(tmp) / "w.jsonl", args.batch_size))
        )[1]
        for label, seconds in (
            ("read + validate (intake)", read_s),
            ("classify_many: rules + model + SLA", classify_s),
            ("  of which rules alone", rules_s),
            ("write JSONL (outputs)", write_s),
        ):
            print(f"    {label:38s} {seconds:7.2f} s  {n / seconds:9,.0f} /s  {1e6 * seconds / n:7.1f} us/request")
        print(f"  output: {out.stat().st_size / 2**20:.1f} MiB")
        if args.workers:
            scaling(triage, source, Path(tmp), [int(w) for w in args.workers.split(",")], args.batch_size, cores)
    return 0


def _as_run_does(function: Callable[[], object]) -> object:
    """`function()` with the loaded objects out of the collector's passes, as `pipeline.run` has them (versions
    of the code before `long_lived_left_out_of_collections` run it as it is)."""
    try:
        from sevtriage.intake.pipeline import long_lived_left_out_of_collections
    except ImportError:
        return function()
    with long_lived_left_out_of_collections():
        return function()


def clocked(function: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def scaling(triage: Triage, source: Path, tmp: Path, counts: list[int], batch_size: int, cores: set[int]) -> None:
    """The end-to-end pipeline with 1, 2, ... worker processes (unpinned): wall-clock rate, same bytes out."""
    from sevtriage.intake.pipeline import run_parallel  # imported here so that the rest runs on older versions

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    rows = source.read_bytes().count(b"\n")
    print(f"  worker processes (`classify --workers N` pipeline, {len(cores)} cores, wall clock):")
    reference: bytes | None = None
    for count in counts:
        out = tmp / f"workers-{count}.jsonl"
        started = time.perf_counter()
        with open(source, "rb") as stream, open(out, "w", encoding="utf-8", newline="") as sink:
            _, read = read_rows(stream, name=str(source))
            items = validate(read, intake_rules_for(triage))
            writer, rejects = JsonlWriter(sink), RejectsWriter(out.with_suffix(".rejects.jsonl"))
            if count == 1:
                run(triage, items, writer, rejects, batch_size=batch_size)
            else:
                run_parallel(triage, Triage.load, items, writer, rejects, workers=count, batch_size=batch_size)
        seconds = time.perf_counter() - started
        data = out.read_bytes()
        reference = data if reference is None else reference
        same = "same bytes as 1 worker" if data == reference else "DIFFERENT OUTPUT"
        print(f"    {count} worker(s): {rows / seconds:8,.0f} requests/s  ({seconds:.1f} s; {same})")


def median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


if __name__ == "__main__":
    sys.exit(main())
