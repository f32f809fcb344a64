"""Writers: the JSONL record, the flat CSV row, the rejects file and where it goes by default."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.errors import InputError
from sevtriage.intake.outputs import (
    FLAT_COLUMNS,
    CsvWriter,
    JsonlWriter,
    RejectsWriter,
    csv_row,
    decision_json,
    default_rejects_path,
    make_writer,
    open_output,
)
from sevtriage.intake.readers import Reject
from sevtriage.text import storable
from sevtriage.types import (
    Deadline,
    Deadlines,
    Decision,
    Familiarity,
    ModelOpinion,
    RuleMatch,
    ScopeNote,
    Severity,
    Ticket,
)

RECEIVED = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)


def _decision(ticket_id: str = "T-1", *, model: bool = True) -> Decision:
    return Decision(
        id=ticket_id,
        severity=Severity.HIGH,
        source="model" if model else "rules",
        confidence=0.81234,
        needs_review=model,
        review_reasons=("no_rule", "low_confidence") if model else (),
        matched_rules=(
            RuleMatch("perf-serious", Severity.HIGH, "Serious slowness", ("veľmi pomalé", "timeout")),
            RuleMatch("usage-q", Severity.LOW, "A how-to question", ("ako",), "weak"),
        ),
        model=ModelOpinion(Severity.HIGH, {1: 0.1, 2: 0.81234, 3: 0.05, 4: 0.03766}, ("pomalé", "report"))
        if model
        else None,
        plan="premier",
        received_at=RECEIVED,
        deadlines=Deadlines(
            Deadline(datetime(2026, 11, 27, 23, 30, tzinfo=UTC), "2 business hours", "8 elapsed hours came first"),
            Deadline(None, None, "no target for severity 2 on this plan"),
        ),
        rules_version="rules-abc",
        model_version="model-1" if model else None,
        scope=(
            ScopeNote("uncertified_environment", ("IE 11",), "Internet Explorer is not certified", "Client software"),
            ScopeNote("third_party", ("Zapier", "plugin"), "a third party is involved", "Third-party extensions"),
        )
        if model
        else (),
        missing_details=("browser_version", "steps_taken") if model else (),
    )


def _pair(ticket_id: str = "T-1", *, model: bool = True) -> tuple[Ticket, Decision]:
    return Ticket(id=ticket_id, subject="s", received_at=RECEIVED), _decision(ticket_id, model=model)


def test_jsonl_writes_the_design_record_one_per_line() -> None:
    stream = io.StringIO()
    writer = JsonlWriter(stream)
    writer.write([_pair("a"), _pair("b", model=False)])
    writer.close()
    lines = stream.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [_decision("a").to_dict(), _decision("b", model=False).to_dict()]
    assert "veľmi pomalé" in lines[0]  # UTF-8 text, not \\u escapes


def test_csv_flattens_lists_probabilities_and_deadlines() -> None:
    stream = io.StringIO()
    writer = CsvWriter(stream, delimiter=";")
    writer.write([_pair("a"), _pair("b", model=False)])
    rows = list(csv.DictReader(io.StringIO(stream.getvalue()), delimiter=";"))
    assert list(rows[0]) == list(FLAT_COLUMNS)
    first, second = rows
    assert first["severity"] == "2"
    assert first["severity_name"] == "high"
    assert first["needs_review"] == "true"
    assert first["review_reasons"] == "no_rule|low_confidence"
    assert first["matched_rules"] == "perf-serious|usage-q"
    assert first["matched_severities"] == "2|4"
    assert first["evidence"] == "veľmi pomalé|timeout|ako"
    assert (first["model_p1"], first["model_p2"], first["model_p4"]) == ("0.1", "0.8123", "0.0377")
    assert first["model_top_terms"] == "pomalé|report"
    assert first["initial_response_due"] == "2026-11-27T23:30:00+00:00"
    assert first["initial_response_target"] == "2 business hours"
    assert first["ongoing_response_due"] == ""
    assert first["received_at"] == "2026-11-27T15:30:00+00:00"
    assert (second["model_severity"], second["model_p1"], second["model_version"]) == ("", "", "")
    assert second["needs_review"] == "false"
    assert first["scope"] == "uncertified_environment|third_party"
    assert first["scope_evidence"] == "IE 11|Zapier|plugin"
    assert first["missing_details"] == "browser_version|steps_taken"
    assert (second["scope"], second["scope_evidence"], second["missing_details"]) == ("", "", "")


def test_csv_row_has_one_cell_per_column() -> None:
    assert len(csv_row(_decision())) == len(FLAT_COLUMNS)


def test_unknown_output_format_is_refused() -> None:
    with pytest.raises(InputError, match=r"--output-format must be one of jsonl, csv; got 'xml'"):
        make_writer(io.StringIO(), "xml")


def test_rejects_file_is_created_on_first_reject_only(tmp_path: Path) -> None:
    path = tmp_path / "out.rejects.jsonl"
    writer = RejectsWriter(path)
    writer.close()
    assert not path.exists()
    writer = RejectsWriter(path)
    writer.write(Reject(7, "a;;b", "empty text", "a"))
    writer.close()
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "line": 7,
        "id": "a",
        "reason": "empty text",
        "raw": "a;;b",
    }
    assert writer.count == 1


@pytest.mark.parametrize(
    ("output", "input_name", "expected"),
    [
        ("out/decisions.jsonl", "in.csv", Path("out/decisions.rejects.jsonl")),
        ("decisions.csv", None, Path("decisions.rejects.jsonl")),
        ("-", "data/in.csv", Path("in.rejects.jsonl")),
        (None, None, Path("stdin.rejects.jsonl")),
    ],
)
def test_default_rejects_path(output: str | None, input_name: str | None, expected: Path) -> None:
    assert default_rejects_path(output, input_name) == expected


# -- spreadsheet safety and fuzzing (issue 10, items 3 and 4) ------------------------------------------------------

FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("cell", FORMULAS)
def test_csv_cells_that_a_spreadsheet_would_run_are_written_as_text(cell: str) -> None:
    """OWASP "CSV Injection": =, +, -, @, tab and CR at the start of a cell get a single quote in front."""
    stream = io.StringIO(newline="")
    writer = CsvWriter(stream)
    writer.write([_pair(cell)])
    rows = list(csv.reader(io.StringIO(stream.getvalue(), newline="")))
    assert rows[1][0] == "'" + cell
    assert rows[1][FLAT_COLUMNS.index("evidence")] == "veľmi pomalé|timeout|ako"


# Any text, with what breaks databases, files and spreadsheets mixed in often.
_ODD = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(["\ud800", "\udfff", "\x00", "=", "+", "-", "@", "\t", "\r", "\n", '"', ";", ","]),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(ids=st.lists(_ODD.filter(lambda s: s.strip() != ""), min_size=1, max_size=5), evidence=_ODD)
def test_writers_always_write_files_that_read_back_row_for_row(
    tmp_path_factory: pytest.TempPathFactory, ids: list[str], evidence: str
) -> None:
    folder = tmp_path_factory.mktemp("out")
    pairs = []
    for request_id in ids:
        ticket, decision = _pair(request_id)
        match = RuleMatch("r", Severity.HIGH, "x", (evidence,))
        pairs.append((ticket, replace(decision, matched_rules=(match,))))
    for fmt in ("jsonl", "csv"):
        stream, _ = open_output(str(folder / f"out.{fmt}"), bom=fmt == "csv")
        with stream:
            writer = make_writer(stream, fmt)
            writer.write(pairs)
            writer.close()
    # Lines end in LF only (JSON Lines); str.splitlines would also split on U+0085 and U+2028 inside a string.
    lines = (folder / "out.jsonl").read_text(encoding="utf-8").split("\n")
    # NUL is written as the JSON escape \u0000, which any file holds; a lone surrogate cannot be, so it is U+FFFD.
    lone = str.maketrans({code: "\ufffd" for code in range(0xD800, 0xE000)})
    assert [json.loads(line)["id"] for line in lines[:-1]] == [i.translate(lone) for i in ids]
    text = (folder / "out.csv").read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))[1:]
    assert [r[0] for r in rows] == [("'" if i.startswith(tuple(FORMULAS_START)) else "") + storable(i) for i in ids]
    assert all(not cell.startswith(tuple(FORMULAS_START)) for row in rows for cell in row)


FORMULAS_START = ("=", "+", "-", "@", "\t", "\r")


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_TEXT = st.text(max_size=12)  # any code point: quotes, backslashes, controls, lone surrogates, U+2028
_NUMBER = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3))


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(_TEXT, min_size=8, max_size=8),
    numbers=st.lists(_NUMBER, min_size=6, max_size=6),
    maybe=st.lists(st.booleans(), min_size=7, max_size=7),
)
def test_the_jsonl_record_is_the_encoders_text_byte_for_byte(
    texts: list[str], numbers: list[float], maybe: list[bool]
) -> None:
    decision = _decision(texts[0], model=maybe[0])
    familiarity = Familiarity(numbers[3], numbers[4], numbers[5], (texts[1],), maybe[1], ("unfamiliar",))
    opinion = ModelOpinion(
        Severity.LOW, {2: numbers[1], 1: numbers[2], 4: 0.5, 3: 1e-9}, (texts[2], texts[3]), familiarity
    )
    odd = replace(
        decision,
        severity=None if maybe[2] else decision.severity,
        source=None if maybe[2] else decision.source,
        confidence=numbers[0],
        review_reasons=(texts[4],),
        matched_rules=(RuleMatch(texts[5], Severity.CRITICAL, texts[6], (texts[7], texts[1]), "weak"),),
        model=(opinion if maybe[3] else replace(opinion, familiarity=None)) if maybe[4] else None,
        plan=None if maybe[5] else texts[2],
        received_at=None if maybe[6] else decision.received_at,
        deadlines=None if maybe[6] else decision.deadlines,
        scope=(ScopeNote(texts[3], (texts[4],), texts[5], texts[6]),),
        missing_details=(texts[7],),
        model_version=None if maybe[3] else texts[0],
    )
    for case in (decision, odd):
        assert decision_json(case) == _ENCODE(case.to_dict())


# Numbers near a rounding boundary of 4 places, where float formatting and `round` could part ways, and the edges
# of the range where the record's numbers (probabilities, confidences, shares) are written without an exponent.
_ROUNDING_EDGES = [
    0.0,
    -0.0,
    1.0,
    0.5,
    0.00005,
    0.00015,
    0.99995,
    0.999949999,
    0.12345,
    0.12355,
    1.00005,
    2.5e-5,
    4.9999e-5,
    5.0000001e-5,
    -0.00001,
    -0.00005,
    -1.23456,
    1e-300,
    5e-324,
    123456.78905,
    999_999_999.99995,
    1e9,
    -1e9,
    1e15,
    1e16,
    1.5e16,
    1e300,
    -1e300,
    0.1 + 0.2,
    2 / 3,
    1 / 3,
]


@pytest.mark.parametrize("value", _ROUNDING_EDGES)
def test_a_number_is_written_as_the_encoder_writes_it_rounded_to_4_places(value: float) -> None:
    decision = replace(_decision("R-1", model=False), confidence=value)
    assert decision_json(decision) == _ENCODE(decision.to_dict())


@settings(max_examples=2000, deadline=None)
@given(value=st.one_of(st.floats(0.0, 1.0), st.floats(-2e9, 2e9), st.floats(allow_nan=True, allow_infinity=True)))
def test_any_number_is_written_as_the_encoder_writes_it_rounded_to_4_places(value: float) -> None:
    decision = replace(_decision("R-1", model=False), confidence=value)
    assert decision_json(decision) == _ENCODE(decision.to_dict())


def test_the_jsonl_record_is_the_encoders_text_for_real_decisions() -> None:
    from sevtriage.model.corpus import read_labelled
    from sevtriage.triage import Triage

    triage = Triage.load()
    data = Path(__file__).resolve().parents[2] / "data"
    tickets = [
        Ticket(f"R-{n}", r.subject, r.body, RECEIVED if n % 5 else None, ("premier", "standard", None)[n % 3])
        for n, r in enumerate(read_labelled(data)[::4])
    ]
    decisions = triage.classify_many(tickets)
    assert any(d.scope for d in decisions) and any(d.matched_rules for d in decisions)
    for decision in decisions:
        assert decision_json(decision) == _ENCODE(decision.to_dict())
    out = io.StringIO()
    JsonlWriter(out).write(list(zip(tickets, decisions, strict=True)))
    assert out.getvalue() == storable("".join(_ENCODE(d.to_dict()) + "\n" for d in decisions))
