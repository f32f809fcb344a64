"""Reading a CSV file whose header has very many columns: the time must grow linearly with the width.

Run:  .venv/bin/python benchmarks/bench_wide_header.py [--widths 10000 100000]

The baseline is the duplicate-name check the reader had before (``header.count(name)`` for every name, quadratic),
run on the same headers in this process; the reader itself is run end to end (header, one row, validation).
The ratio between widths is what matters: linear time grows 10x from 10,000 to 100,000 columns, quadratic 100x.
"""

from __future__ import annotations

import argparse
import io
import time

from sevtriage.intake.readers import IntakeRules, read_rows, validate


def wide_file(width: int) -> bytes:
    names = ["id", "subject", "body", "received_at", "plan", *(f"c{i}" for i in range(width))]
    row = ["W-1", "Login fails", "Nobody can log in", "2026-11-26T09:00:00+01:00", "standard", *("x" * width)]
    return (",".join(names) + "\n" + ",".join(row) + "\n").encode()


def read(data: bytes) -> float:
    started = time.perf_counter()
    _, rows = read_rows(io.BytesIO(data), name="wide.csv")
    items = list(validate(rows, IntakeRules()))
    assert len(items) == 1
    return time.perf_counter() - started


def old_duplicate_check(data: bytes) -> float:
    header = data.split(b"\n", 1)[0].decode().split(",")
    started = time.perf_counter()
    sorted({h for h in header if header.count(h) > 1})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--baseline-up-to", type=int, default=30_000, help="widest header for the quadratic check")
    args = parser.parse_args()
    print(f"{'columns':>9}  {'read (s)':>9}  {'old duplicate check alone (s)':>30}")
    timings: list[tuple[int, float]] = []
    for width in args.widths:
        data = wide_file(width)
        seconds = min(read(data) for _ in range(3))
        timings.append((width, seconds))
        old = f"{old_duplicate_check(data):.3f}" if width <= args.baseline_up_to else "(skipped: too slow)"
        print(f"{width:>9,}  {seconds:>9.3f}  {old:>30}")
    (narrow, t0), (wide, t1) = timings[0], timings[-1]
    print(f"time ratio {wide:,} / {narrow:,} columns: {t1 / t0:.1f}x for {wide / narrow:.0f}x the width")


if __name__ == "__main__":
    main()
