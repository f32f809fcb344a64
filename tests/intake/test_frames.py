"""`classify_frame` (pandas) and `classify_partition` on Dask's multiprocessing scheduler."""

from __future__ import annotations

import os
import re
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from sevtriage.appliers import classify_partition
from sevtriage.intake.frames import FRAME_COLUMNS, classify_frame, output_meta
from sevtriage.intake.outputs import flat_record
from sevtriage.triage import Triage
from sevtriage.types import Ticket

ROWS = [
    (
        "F-1",
        "Production down",
        "Nobody can log in, the whole company is blocked.",
        "2026-11-26T09:00:00+01:00",
        "premier",
    ),
    ("F-2", "Otázka", "Ako pridám nového zamestnanca?", "2026-11-26T10:00:00+01:00", "standard"),
    ("F-3", "", "", "2026-11-26T10:00:00+01:00", "standard"),
    ("F-4", "Pomalé reporty", "Report sa načítava 10 minút.", "2026-11-26T10:00:00", "standard"),
    ("F-5", "Návrh", "Bolo by fajn mať export do XLSX.", "2026-11-27T16:30:00+01:00", None),
]


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load()


def _frame() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=["id", "subject", "body", "received_at", "plan"])
    frame.index = pd.Index([10, 11, 12, 13, 14])
    return frame


def test_frame_rows_match_classify_one_by_one(triage: Triage) -> None:
    out = classify_frame(triage, _frame())
    assert list(out.columns) == list(FRAME_COLUMNS)
    assert list(out.index) == [10, 11, 12, 13, 14]
    for position in (0, 1, 4):
        row = ROWS[position]
        ticket = Ticket(row[0], row[1], row[2], datetime.fromisoformat(row[3]), row[4] or "standard")
        expected = flat_record(triage.classify(ticket))
        got = out.iloc[position]
        assert got["severity"] == expected["severity"]
        assert got["source"] == expected["source"]
        assert got["matched_rules"] == expected["matched_rules"]
        assert got["needs_review"] == expected["needs_review"]
        assert pd.isna(got["reject_reason"])
    assert out.loc[12, "reject_reason"].startswith("empty text")
    assert out.loc[13, "reject_reason"].startswith("naive received_at")
    assert pd.isna(out.loc[12, "severity"])
    assert str(out["severity"].dtype) == "Int64"
    assert str(out["initial_response_due"].dtype).startswith("datetime64")


def test_every_column_holds_the_flat_record_value(triage: Triage) -> None:
    """Each output cell equals `flat_record`'s value, lists as lists (not their text), for every column."""
    out = classify_frame(triage, _frame())
    for position in (0, 1, 4):
        row = ROWS[position]
        ticket = Ticket(row[0], row[1], row[2], datetime.fromisoformat(row[3]), row[4] or "standard")
        expected = flat_record(triage.classify(ticket))
        got = out.iloc[position]
        for column, value in expected.items():
            cell = got[column]
            if isinstance(value, list):
                assert isinstance(out[column].dtype, pd.ArrowDtype), column
                assert list(cell) == value, column
            elif value is None:
                assert pd.isna(cell), column
            else:
                assert cell == value, column


def test_timestamps_and_nan_cells_are_understood(triage: Triage) -> None:
    frame = _frame().iloc[[0, 4]].copy()
    frame["received_at"] = pd.to_datetime(frame["received_at"], utc=True)
    frame["customer"] = [float("nan"), "ACME"]
    out = classify_frame(triage, frame)
    assert out["reject_reason"].isna().all()
    assert out["received_at"].iloc[0] == pd.Timestamp("2026-11-26T08:00:00Z")


def test_meta_matches_the_output_dtypes(triage: Triage) -> None:
    out = classify_frame(triage, _frame())
    assert dict(output_meta().dtypes) == dict(out.dtypes)


def test_a_large_partition_is_classified_a_batch_at_a_time(triage: Triage) -> None:
    """Memory at the peak grows with the output rows only, not with all the partition's model features at once.

    A Dask partition is a whole file (100,000 rows in the benchmark); classified in one call, its features took
    about 34 kB a row (3.4 GB a worker). Batches of the CLI's size keep the peak near one batch's.
    """
    frame = pd.concat([_frame().iloc[[0, 1, 4]]] * 1_000, ignore_index=True)
    frame["id"] = [f"B-{n}" for n in range(len(frame))]
    classify_frame(triage, frame.head(50))  # caches warm

    def peak(rows: int) -> int:
        tracemalloc.start()
        try:
            classify_frame(triage, frame.head(rows))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(1_000), peak(3_000)  # one batch, three
    assert large < 2 * small, (small, large)


def test_dask_map_partitions_on_local_processes() -> None:
    """The README recipe: each worker process loads the bundled triage once and classifies its partitions."""
    dd = pytest.importorskip("dask.dataframe")
    import dask

    frame = pd.concat([_frame()] * 4, ignore_index=True)
    frame["id"] = [f"D-{n}" for n in range(len(frame))]
    ddf = dd.from_pandas(frame, npartitions=4)
    with dask.config.set(scheduler="processes", num_workers=2):
        result = ddf.map_partitions(classify_partition, meta=output_meta()).compute()
    expected = classify_frame(Triage.load(), frame)
    pd.testing.assert_frame_equal(result.sort_index(), expected, check_dtype=False)
    assert result["reject_reason"].notna().sum() == 8


def test_the_readme_dask_recipe_runs_as_written_on_a_local_cluster(tmp_path: Path) -> None:
    """The README's recipe, its code block executed verbatim, on a local cluster of two worker processes."""
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    recipe = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "to_parquet" in block)
    frame = pd.concat([_frame()] * 3, ignore_index=True)
    frame["id"] = [f"D-{n}" for n in range(len(frame))]
    for part in range(2):  # two files, as the glob in the recipe expects
        frame.iloc[part::2].to_csv(tmp_path / f"archive-{part}.csv", sep=";", index=False)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster),
        _working_directory(tmp_path),
    ):
        exec(compile(recipe, "README.md recipe", "exec"), {})  # our own README's code
    stored = pd.read_parquet(tmp_path / "decisions", dtype_backend="pyarrow").set_index("id").sort_index()
    expected = classify_frame(Triage.load(), frame.astype(str).replace("nan", None)).set_index("id").sort_index()
    assert len(stored) == len(frame)
    assert list(stored["severity"]) == list(expected["severity"])
    assert list(stored["reject_reason"].isna()) == list(expected["reject_reason"].isna())
    assert _lists(stored["matched_rules"]) == _lists(expected["matched_rules"])


def test_the_readme_recipe_keeps_multiline_bodies_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bodies with line breaks in a file bigger than Dask's read block: every row arrives whole, once.

    Dask splits a CSV file into blocks at line breaks, also inside quoted fields (its `read_csv` docstring), so an
    archive over the default 64 MB block broke rows. The default block is made 1 kB here to show it on small data.
    """
    dd = pytest.importorskip("dask.dataframe")
    import dask

    split_small = dd.read_csv

    def read_csv(*args: object, **kwargs: object) -> object:
        kwargs.setdefault("blocksize", 1_000)
        return split_small(*args, **kwargs)

    monkeypatch.setattr(dd, "read_csv", read_csv)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    recipe = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "to_parquet" in block)
    frame = pd.concat([_frame().iloc[[0, 1, 4]]] * 20, ignore_index=True)
    frame["id"] = [f"M-{n}" for n in range(len(frame))]
    frame["body"] = frame["body"] + "\nSecond line; with a separator.\n\nThird line." * 3  # most breaks are quoted
    frame.to_csv(tmp_path / "archive-0.csv", sep=";", index=False)
    assert (tmp_path / "archive-0.csv").stat().st_size > 10 * 1_000  # many blocks
    with dask.config.set(scheduler="synchronous"), _working_directory(tmp_path):
        exec(compile(recipe, "README.md recipe", "exec"), {})  # our own README's code
    stored = pd.read_parquet(tmp_path / "decisions", dtype_backend="pyarrow")
    expected = classify_frame(Triage.load(), frame.astype(str).replace("nan", None))
    assert list(stored["id"]) == list(frame["id"])
    assert stored["reject_reason"].isna().all()
    assert list(stored["severity"]) == list(expected["severity"])
    assert _lists(stored["evidence"]) == _lists(expected["evidence"])


def _lists(column: pd.Series) -> list[list[str] | None]:
    return [None if x is None or x is pd.NA else list(x) for x in column]


@contextmanager
def _working_directory(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)
