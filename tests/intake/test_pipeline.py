"""The streaming pipeline with the real rules, model and policy: nothing lost, batches invisible, memory flat."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sevtriage.intake.outputs import JsonlWriter, RejectsWriter
from sevtriage.intake.pipeline import (
    RUN_YOUNG_THRESHOLD,
    Summary,
    intake_rules_for,
    long_lived_left_out_of_collections,
    run,
)
from sevtriage.intake.readers import Row, read_rows, validate
from sevtriage.triage import Triage
from sevtriage.types import Ticket

TEXTS = [
    ("Production down", "Nobody can log in since 9:00, the whole company is blocked."),
    ("Otázka", "Ako pridám nového zamestnanca do tímu?"),
    ("Pomalé reporty", "Mesačný report sa načítava 10 minút, všetci nadriadení čakajú."),
    ("Návrh", "Bolo by fajn mať export do XLSX."),
    ("Chyba v docházce", "Jednomu uživateli se nezobrazuje docházka za pondělí."),
    ("Data lost", "After the import all October timesheets are gone in production."),
]


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load()


def _classify(triage: Triage, data: bytes, name: str, batch_size: int = 1000) -> tuple[Summary, list[dict], list[dict]]:
    _, rows = read_rows(io.BytesIO(data), name=name)
    out = io.StringIO()
    rejects_out = io.StringIO()
    summary = run(
        triage,
        validate(rows, intake_rules_for(triage)),
        JsonlWriter(out),
        RejectsWriter(rejects_out),
        batch_size=batch_size,
    )
    decisions = [json.loads(line) for line in out.getvalue().splitlines()]
    rejects = [json.loads(line) for line in rejects_out.getvalue().splitlines()]
    return summary, decisions, rejects


def _csv(rows: list[list[str]], delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["id", "subject", "body", "received_at", "plan"])
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def test_mixed_file_every_row_is_a_decision_or_a_reject(triage: Triage) -> None:
    good = "2026-11-26T09:00:00+01:00"
    rows = [
        ["A-1", *TEXTS[0], good, "premier"],
        ["", *TEXTS[1], good, "standard"],
        ["A-2", "", "", good, "standard"],
        ["A-3", *TEXTS[2], "2026-11-26 09:00", "standard"],
        ["A-4", *TEXTS[3], "not a date", "standard"],
        ["A-5", *TEXTS[4], good, "platinum"],
        ["A-1", *TEXTS[5], good, "premier"],
        ["A-6", *TEXTS[5], good, ""],
    ]
    summary, decisions, rejects = _classify(triage, _csv(rows, ";"), "mixed.csv")
    assert summary.rows == 8 == summary.decisions + summary.rejects
    assert [d["id"] for d in decisions] == ["A-1", "A-6"]
    assert [(r["line"], r["id"]) for r in rejects] == [
        (3, None),
        (4, "A-2"),
        (5, "A-3"),
        (6, "A-4"),
        (7, "A-5"),
        (8, "A-1"),
    ]
    assert [r["reason"].split(":")[0].split(" '")[0] for r in rejects] == [
        "missing id",
        "empty text",
        "naive received_at",
        "unparsable received_at",
        "unknown plan",
        "duplicate id",
    ]
    assert rejects[0]["raw"] == ";" + ";".join(rows[1][1:])
    assert triage.sla is not None
    assert decisions[1]["plan"] == triage.sla.default_plan
    assert sum(summary.by_severity.values()) == summary.decisions
    assert summary.needs_review == sum(d["needs_review"] for d in decisions)


def test_batch_size_does_not_change_decisions(triage: Triage) -> None:
    rows = [[f"B-{n}", *TEXTS[n % len(TEXTS)], "2026-11-27T16:30:00+01:00", "premier"] for n in range(25)]
    data = _csv(rows)
    _, one_batch, _ = _classify(triage, data, "b.csv", batch_size=1000)
    _, small_batches, _ = _classify(triage, data, "b.csv", batch_size=4)
    assert one_batch == small_batches
    assert one_batch == [triage.classify(t).to_dict() for t in _tickets(rows)]


def _tickets(rows: list[list[str]]) -> list[Ticket]:
    return [Ticket(id=r[0], subject=r[1], body=r[2], received_at=datetime.fromisoformat(r[3]), plan=r[4]) for r in rows]


_row = st.tuples(
    st.sampled_from(["ok", "no-id", "empty", "naive", "bad-plan", "dup"]),
    st.sampled_from(range(len(TEXTS))),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from('\n;,"'), max_size=30),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row, min_size=1, max_size=12), delimiter=st.sampled_from([",", ";"]))
def test_csv_to_jsonl_loses_nothing(triage: Triage, rows: list[tuple[str, int, str]], delimiter: str) -> None:
    """Rows in = decisions out + rejects; each good id comes out once, with its text's decision."""
    table: list[list[str]] = []
    expected_ok: list[str] = []
    for n, (kind, text_index, noise) in enumerate(rows):
        subject, body = TEXTS[text_index]
        body = f"{body} {noise}"
        ticket_id = f"P-{n}"
        received = "2026-11-26T09:00:00+01:00"
        plan = "standard"
        if kind == "no-id":
            ticket_id = ""
        elif kind == "empty":
            subject, body = "", " "
        elif kind == "naive":
            received = "2026-11-26T09:00:00"
        elif kind == "bad-plan":
            plan = "gold"
        elif kind == "dup" and expected_ok:
            ticket_id = expected_ok[0]
        else:
            expected_ok.append(ticket_id)
        table.append([ticket_id, subject, body, received, plan])
    summary, decisions, rejects = _classify(triage, _csv(table, delimiter), "p.csv", batch_size=5)
    assert summary.rows == len(rows) == len(decisions) + len(rejects)
    assert [d["id"] for d in decisions] == expected_ok
    assert all(r["raw"] and r["reason"] for r in rejects)


def _endless(count: int) -> Iterator[Row]:
    start = datetime(2026, 11, 2, 8, tzinfo=UTC)
    for n in range(count):
        subject, body = TEXTS[n % len(TEXTS)]
        received = (start + timedelta(minutes=n)).isoformat()
        fields = {
            "id": f"M-{n}",
            "subject": subject,
            "body": f"{body} #{n}",
            "received_at": received,
            "plan": "premier",
        }
        yield Row(n + 2, "", fields)


@pytest.mark.slow
def test_memory_stays_flat_while_streaming(triage: Triage, tmp_path: Path) -> None:
    """RSS after 5k rows and after 25k rows differ by little: nothing per row is kept (but a 16-byte id hash)."""
    process = psutil.Process(os.getpid())
    marks: dict[int, int] = {}

    def progress(rows: int) -> None:
        if rows in (5_000, 25_000):
            marks[rows] = process.memory_info().rss

    with open(os.devnull, "w", encoding="utf-8") as sink:
        summary = run(
            triage,
            validate(_endless(25_000), intake_rules_for(triage)),
            JsonlWriter(sink),
            RejectsWriter(tmp_path / "r.jsonl"),
            progress=progress,
        )
    assert summary.decisions == 25_000
    growth = marks[25_000] - marks[5_000]
    # 20k more rows: a leak of even 1 KiB per row would show as 20 MB.
    assert growth < 12 * 1024 * 1024, f"RSS grew by {growth / 2**20:.1f} MiB"


def test_a_far_future_arrival_is_one_reject_with_a_reason_to_act_on(triage: Triage) -> None:
    """Not "internal error while classifying: CalendarError" (issue 10, item 9); its batch neighbours go on."""
    rows = [
        ["F-1", "Production down", "Nobody can log in.", "2026-11-26T09:00:00+01:00", "premier"],
        ["F-2", "Production down", "Nobody can log in.", "9999-12-31T10:00:00+00:00", "premier"],
        ["F-3", "Otázka", "Ako pridám zamestnanca?", "2026-11-26T09:00:00+01:00", "standard"],
    ]
    summary, decisions, rejects = _classify(triage, _csv(rows), "far.csv")
    assert [d["id"] for d in decisions] == ["F-1", "F-3"]
    assert [(r["line"], r["id"]) for r in rejects] == [(3, "F-2")]
    assert rejects[0]["reason"] == (
        "received_at 9999-12-31T10:00:00+00:00 is too late: its response deadline would fall after the year 9998, "
        "the end of the business calendar; check the year of received_at"
    )
    assert (summary.rows, summary.decisions, summary.rejects) == (3, 2, 1)


def test_the_loaded_classifier_is_left_out_of_collections_only_while_a_run_lasts(triage: Triage) -> None:
    import gc

    # Start from nothing frozen: an earlier test in this process (the service's) may have frozen its objects;
    # they are frozen again at the end.
    earlier = gc.get_freeze_count()
    gc.unfreeze()
    try:
        _check_the_freeze_lasts_one_run(triage)
    finally:
        if earlier:
            gc.freeze()


def test_overlapping_runs_put_the_collector_back_as_the_first_one_found_it() -> None:
    import gc

    # Two runs in two threads may end in either order: the collector's setting and the freeze are the process's,
    # so they change when the first run starts and come back when the last one ends, whichever that is.
    thresholds, earlier = gc.get_threshold(), gc.get_freeze_count()
    gc.unfreeze()
    try:
        first, second = long_lived_left_out_of_collections(), long_lived_left_out_of_collections()
        first.__enter__()
        frozen = gc.get_freeze_count()
        second.__enter__()
        first.__exit__(None, None, None)  # the first run ends while the second still runs
        assert gc.get_threshold()[0] == RUN_YOUNG_THRESHOLD and gc.get_freeze_count() >= frozen > 0
        second.__exit__(None, None, None)
        assert gc.get_threshold() == thresholds and gc.get_freeze_count() == 0
    finally:
        gc.set_threshold(*thresholds)
        if earlier:
            gc.freeze()


def _check_the_freeze_lasts_one_run(triage: Triage) -> None:
    import gc

    rows = [[f"F-{n}", s, b, "2026-03-02T10:00:00+00:00", "premier"] for n, (s, b) in enumerate(TEXTS * 5)]
    data = _csv(rows)
    seen: list[int] = []

    young_thresholds: list[int] = []
    thresholds = gc.get_threshold()

    def progress(done: int) -> None:
        seen.append(gc.get_freeze_count())
        young_thresholds.append(gc.get_threshold()[0])

    _, rows_read = read_rows(io.BytesIO(data), name="f.csv")
    out = io.StringIO()
    assert gc.get_freeze_count() == 0
    run(
        triage,
        validate(rows_read, intake_rules_for(triage)),
        JsonlWriter(out),
        RejectsWriter(io.StringIO()),
        batch_size=7,
        progress=progress,
    )
    assert gc.get_freeze_count() == 0  # put back: collected as usual after the run
    assert seen and all(count > 0 for count in seen)  # left out while the batches ran
    assert young_thresholds and set(young_thresholds) == {RUN_YOUNG_THRESHOLD}  # fewer young collections meanwhile
    assert gc.get_threshold() == thresholds  # and the process's own setting afterwards
    # The same decisions when the caller froze objects itself, which the run leaves frozen.
    again = io.StringIO()
    _, rows_read = read_rows(io.BytesIO(data), name="f.csv")
    gc.freeze()
    try:
        run(triage, validate(rows_read, intake_rules_for(triage)), JsonlWriter(again), RejectsWriter(io.StringIO()))
        assert gc.get_freeze_count() > 0  # not put back by the run (objects freed meanwhile leave the count)
    finally:
        gc.unfreeze()
    assert again.getvalue() == out.getvalue() and len(out.getvalue().splitlines()) == len(rows)
