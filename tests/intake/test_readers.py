"""Readers and row validation: formats, delimiters, encodings, and every reject reason with its text."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sevtriage.errors import InputError
from sevtriage.intake.readers import (
    IntakeRules,
    Reject,
    SeenIds,
    detect_delimiter,
    detect_format,
    read_rows,
    ticket_from_fields,
    validate,
)
from sevtriage.text import id_problem, storable
from sevtriage.types import Ticket

RULES = IntakeRules(plans=frozenset({"standard", "premier"}), default_plan="standard")
HEADER = "id,subject,body,received_at,plan\n"


def _read(data: bytes, name: str | None = None, **kwargs: str) -> list[tuple[int, Ticket] | Reject]:
    _, rows = read_rows(io.BytesIO(data), name=name, **kwargs)
    return list(validate(rows, RULES))


def _tickets(items: list[tuple[int, Ticket] | Reject]) -> list[Ticket]:
    return [item[1] for item in items if not isinstance(item, Reject)]


def _rejects(items: list[tuple[int, Ticket] | Reject]) -> list[Reject]:
    return [item for item in items if isinstance(item, Reject)]


@pytest.mark.parametrize(
    ("name", "head", "given", "expected"),
    [
        ("a.csv", b"{", None, "csv"),
        ("a.jsonl", b"id,subject", None, "jsonl"),
        ("a.ndjson", b"", None, "jsonl"),
        ("a.txt", b'  {"id": 1}', None, "jsonl"),
        ("a.txt", b"\xef\xbb\xbf{", None, "jsonl"),
        (None, b"id;subject", None, "csv"),
        (None, b"id,subject", "jsonl", "jsonl"),
        ("a.jsonl", b"{", "csv", "csv"),
    ],
)
def test_format_detection(name: str | None, head: bytes, given: str | None, expected: str) -> None:
    assert detect_format(name, head, given) == expected


def test_unknown_format_is_refused_with_the_allowed_values() -> None:
    with pytest.raises(InputError, match=r"--format must be one of csv, jsonl; got 'xml'"):
        detect_format("a.csv", b"", "xml")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("id,subject,body", ","),
        ("id;subject;body", ";"),
        ("id\tsubject\tbody", "\t"),
        ('"id;x",subject', ","),
        ("id", ","),
    ],
)
def test_delimiter_detection(header: str, expected: str) -> None:
    assert detect_delimiter(header) == expected


def test_semicolon_csv_with_bom_and_crlf_and_multiline_field() -> None:
    text = (
        "id;subject;body;received_at;plan\r\n"
        'SK-1;Nefunguje prihlásenie;"Dobrý deň,\r\nnikto sa nevie prihlásiť; výroba stojí";'
        "2026-11-26T09:00:00+01:00;premier\r\n"
        "SK-2;Otázka;Ako exportovať dochádzku?;2026-11-26T10:00:00+01:00;\r\n"
    )
    items = _read(b"\xef\xbb\xbf" + text.encode("utf-8"), name="export.csv")
    tickets = _tickets(items)
    assert [t.id for t in tickets] == ["SK-1", "SK-2"]
    assert tickets[0].body == "Dobrý deň,\r\nnikto sa nevie prihlásiť; výroba stojí"
    assert tickets[0].plan == "premier"
    assert tickets[1].plan == "standard"  # the default plan fills an empty cell
    assert [item[0] for item in items if not isinstance(item, Reject)] == [2, 4]


def test_cp1250_export_reads_with_the_encoding_option() -> None:
    text = HEADER + "CZ-1,Chyba v docházce,Žádný přístup ke mzdám,2026-11-26T09:00:00+01:00,standard\n"
    data = text.encode("cp1250")
    tickets = _tickets(_read(data, name="old.csv", encoding="cp1250"))
    assert tickets[0].subject == "Chyba v docházce"
    assert tickets[0].body == "Žádný přístup ke mzdám"


def test_cp1250_read_as_utf8_rejects_the_line_and_suggests_the_option() -> None:
    text = HEADER + "CZ-1,Chyba v docházce,Žádný přístup,2026-11-26T09:00:00+01:00,standard\n"
    text += "CZ-2,ok,plain ascii,2026-11-26T09:00:00+01:00,standard\n"
    items = _read(text.encode("cp1250"), name="old.csv")
    [reject] = _rejects(items)
    assert reject.line == 2
    assert (
        reject.reason == "line is not valid utf-8 at byte 18 of the line (an old Windows export? try --encoding cp1250)"
    )
    assert [t.id for t in _tickets(items)] == ["CZ-2"]


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ("klingon", "unknown encoding 'klingon'; use a Python codec name such as utf-8, cp1250 or iso8859-2"),
        ("rot13", "encoding 'rot13' is not a text encoding; use a Python codec name such as utf-8, cp1250"),
    ],
)
def test_bad_encodings_are_refused(encoding: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_rows(io.BytesIO(b""), name="a.csv", encoding=encoding)


def test_header_without_id_is_a_usage_error_saying_what_was_found() -> None:
    with pytest.raises(InputError) as error:
        _read(b"subject,body\nx,y\n", name="in.csv")
    assert str(error.value) == (
        "in.csv: line 1: the header has no 'id' column (found: subject, body); the first line must name the "
        "columns, e.g. id,subject,body,received_at,plan"
    )


def test_jsonl_file_named_csv_gets_a_hint() -> None:
    with pytest.raises(InputError, match=r"is this JSONL\? use --format jsonl"):
        _read(b'{"id": "a", "subject": "x"}\n', name="in.csv")


REJECT_CASES = [
    ({"subject": "x", "received_at": "2026-11-26T09:00:00Z"}, "missing id: every request needs a non-empty 'id'"),
    ({"id": "  ", "subject": "x", "received_at": "2026-11-26T09:00:00Z"}, "missing id"),
    (
        {"id": "a", "subject": " ", "body": "", "received_at": "2026-11-26T09:00:00Z"},
        "empty text: subject and body are both empty; at least one must say what is wrong",
    ),
    (
        {"id": "a", "subject": "x"},
        "missing received_at: deadlines need the arrival instant, e.g. 2026-11-27T16:30:00+01:00",
    ),
    (
        {"id": "a", "subject": "x", "received_at": "2026-11-26T09:00"},
        "naive received_at '2026-11-26T09:00' has no UTC offset, so the deadline would depend on the server's "
        "zone; write it with an offset, e.g. 2026-11-26T09:00+01:00",
    ),
    (
        {"id": "a", "subject": "x", "received_at": "yesterday"},
        "unparsable received_at 'yesterday': expected an ISO-8601 instant with offset, e.g. "
        "2026-11-27T16:30:00+01:00 or 2026-11-27T15:30:00Z",
    ),
    (
        {"id": "a", "subject": "x", "received_at": 1700000000},
        "received_at must be an ISO-8601 text such as 2026-11-27T16:30:00+01:00; got 1700000000",
    ),
    (
        {"id": "a", "subject": "x", "received_at": "2026-11-26T09:00:00Z", "plan": "Gold"},
        "unknown plan 'Gold'; plan must be one of premier, standard",
    ),
    ({"id": ["a"], "subject": "x", "received_at": "2026-11-26T09:00:00Z"}, 'id must be text; got ["a"]'),
    ({"id": "a", "subject": {"x": 1}, "received_at": "2026-11-26T09:00:00Z"}, "subject/body must be text"),
]


@pytest.mark.parametrize(("fields", "reason"), REJECT_CASES)
def test_each_reject_reason(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError) as error:
        ticket_from_fields(fields, RULES)
    assert str(error.value).startswith(reason)


def test_valid_fields_make_a_ticket_with_extras_carried_through() -> None:
    ticket = ticket_from_fields(
        {
            "id": 17,
            "subject": "Login",
            "received_at": "2026-11-26T09:00:00Z",
            "plan": " Premier ",
            "customer": "ACME",
            "tags": ["a", "b"],
            "empty": "",
        },
        RULES,
    )
    assert ticket == Ticket(
        id="17",
        subject="Login",
        body="",
        received_at=datetime(2026, 11, 26, 9, tzinfo=UTC),
        plan="premier",
        extra={"customer": "ACME", "tags": '["a", "b"]'},
    )


def test_default_received_at_serves_requests_without_one() -> None:
    now = datetime(2026, 11, 26, 9, tzinfo=timezone(timedelta(hours=1)))
    ticket = ticket_from_fields({"id": "a", "body": "x"}, IntakeRules(default_received_at=now))
    assert ticket.received_at == now
    assert ticket.plan is None


def test_jsonl_rejects_keep_line_numbers_and_raw_text() -> None:
    lines = [
        '{"id": "a", "subject": "ok", "received_at": "2026-11-26T09:00:00+01:00"}',
        "",
        "{not json",
        "[1, 2]",
        '{"id": "a", "subject": "again", "received_at": "2026-11-26T09:00:00+01:00"}',
        '{"id": "b", "subject": "", "received_at": "2026-11-26T09:00:00+01:00"}',
        '{"id": "c", "subject": "fine", "received_at": "2026-11-26T09:00:00+01:00", "plan": "premier"}',
    ]
    items = _read("\n".join(lines).encode(), name="x.jsonl")
    assert [t.id for t in _tickets(items)] == ["a", "c"]
    assert [(r.line, r.raw, r.id) for r in _rejects(items)] == [
        (3, "{not json", None),
        (4, "[1, 2]", None),
        (5, lines[4], "a"),
        (6, lines[5], "b"),
    ]
    reasons = [r.reason for r in _rejects(items)]
    assert reasons[0] == "not valid JSON: Expecting property name enclosed in double quotes at column 2"
    assert reasons[1] == "each line must be a JSON object {...}; got list"
    assert reasons[2] == "duplicate id 'a': line 1 has the same id; ids must be unique within a file"


def test_csv_row_with_wrong_field_count_is_rejected_not_shifted() -> None:
    data = HEADER + "a,x,y,2026-11-26T09:00:00Z,standard,EXTRA\nb,x,y,2026-11-26T09:00:00Z\n"
    items = _read(data.encode(), name="in.csv")
    assert [r.reason for r in _rejects(items)] == [
        "row has 6 fields but the header has 5; quote fields that contain ',' or line breaks",
        "row has 4 fields but the header has 5; quote fields that contain ',' or line breaks",
    ]
    assert [r.line for r in _rejects(items)] == [2, 3]


def test_stdin_style_stream_is_peeked_without_losing_bytes() -> None:
    class Pipe(io.RawIOBase):
        """A non-seekable stream that hands out a few bytes at a time, like a pipe."""

        def __init__(self, data: bytes) -> None:
            self._data = data

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            chunk, self._data = self._data[:7], self._data[7:]
            buffer[: len(chunk)] = chunk
            return len(chunk)

    data = b'{"id": "a", "body": "x", "received_at": "2026-11-26T09:00:00Z"}\n'
    fmt, rows = read_rows(Pipe(data), name=None)  # type: ignore[arg-type]
    assert fmt == "jsonl"
    assert [t.id for t in _tickets(list(validate(rows, RULES)))] == ["a"]


def test_seen_ids_survive_many_flushes() -> None:
    seen = SeenIds()
    for n in range(10_000):
        seen.add(f"id-{n}", n + 2)
    assert len(seen) == 10_000
    assert seen.first_line("id-0") == 2
    assert seen.first_line("id-9999") == 10_001
    assert seen.first_line("id-5000") == 5002
    assert seen.first_line("nope") is None
    # Every id, whether still pending or in a flushed run, and none that was never added.
    assert all(seen.first_line(f"id-{n}") == n + 2 for n in range(10_000))
    assert not any(seen.first_line(f"other-{n}") is not None for n in range(10_000))


_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("\n\r\t;,\"'"), max_size=40
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(_text, _text, st.sampled_from(["standard", "premier", ""])), min_size=1, max_size=8),
    delimiter=st.sampled_from([",", ";"]),
    bom=st.booleans(),
)
def test_csv_to_tickets_loses_nothing(rows: list[tuple[str, str, str]], delimiter: str, bom: bool) -> None:
    """Whatever the text (quotes, separators, line breaks, diacritics), a CSV row reads back as written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["id", "subject", "body", "received_at", "plan"])
    for n, (subject, body, plan) in enumerate(rows):
        writer.writerow([f"T-{n}", subject, body, "2026-11-26T09:00:00+01:00", plan])
    data = buffer.getvalue().encode("utf-8")
    items = _read((b"\xef\xbb\xbf" if bom else b"") + data, name="x.csv")
    by_id = {t.id: t for t in _tickets(items)}
    for n, (subject, body, plan) in enumerate(rows):
        if not subject.strip() and not body.strip():
            assert any(r.id == f"T-{n}" and r.reason.startswith("empty text") for r in _rejects(items))
            continue
        ticket = by_id[f"T-{n}"]
        assert (ticket.subject, ticket.body, ticket.plan) == (subject, body, plan or "standard")
    assert len(items) == len(rows)


def test_json_extra_values_round_trip_through_extra() -> None:
    line = json.dumps({"id": "a", "body": "x", "received_at": "2026-11-26T09:00:00Z", "meta": {"k": [1]}})
    [ticket] = _tickets(_read(line.encode(), name="x.jsonl"))
    assert json.loads(ticket.extra["meta"]) == {"k": [1]}


# -- fuzzing the readers (issue 10, item 3): nothing raises, nothing is lost, nothing unstorable gets through ------

_odd = st.text(
    st.characters(codec="utf-8") | st.sampled_from(["\ud800", "\udfff", "\x00", "\r", "\n", '"', ";", ","]),
    max_size=30,
)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _odd,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_odd, inner, max_size=3),
    max_leaves=8,
)
_json_record = st.fixed_dictionaries(
    {},
    optional={
        "id": _json_value,
        "subject": _json_value,
        "body": _json_value,
        "received_at": st.sampled_from(["2026-11-26T09:00:00+01:00", "9999-12-31T23:00:00+00:00", "x", ""]),
        "plan": _json_value,
        "environment": _json_value,
    },
)


def _assert_storable(items: list[tuple[int, Ticket] | Reject]) -> None:
    for item in items:
        if isinstance(item, Reject):
            json.dumps(item.to_dict(), ensure_ascii=False).encode("utf-8")  # the rejects file can hold it
            continue
        ticket = item[1]
        assert id_problem(ticket.id) is None
        texts = [ticket.subject, ticket.body, ticket.plan or "", *ticket.extra, *ticket.extra.values()]
        assert all(storable(t) == t for t in texts)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            _json_record.map(lambda r: json.dumps(r).encode()),
            _json_record.map(lambda r: json.dumps(r, ensure_ascii=False).encode("utf-8", "surrogatepass")),
            st.binary(max_size=40),
        ),
        max_size=8,
    ),
    ending=st.sampled_from([b"\n", b"\r\n", b"\r"]),
)
@example(lines=[b"\x00\x00\x00\x00"], ending=b"\n")
@example(lines=[b"\x00\x01\x01\x01\x01\x01"], ending=b"\n")
@example(lines=[b"\x00\x01\x00\x01"], ending=b"\n")
def test_jsonl_reader_gives_one_ticket_or_reject_per_line_whatever_the_bytes(lines: list[bytes], ending: bytes) -> None:
    data = ending.join(lines)
    try:
        items = _read(data, name="fuzz.jsonl")
    except InputError as error:
        # The one refusal of a whole file, before any line is read: bytes that read as UTF-16 text (such as
        # 00 01 00 01), which needs --encoding (see the UTF-16 tests). It needs NULs in a quarter of the bytes.
        assert str(error).startswith("fuzz.jsonl: the file is UTF-16, not UTF-8")
        head = data[:512]
        assert head.count(0) * 4 >= len(head) - 1
        return
    # The reader splits on LF, CRLF and lone CR; a line that is only white space is skipped.
    physical = [line for line in re.split(rb"\r\n|\r|\n", data.removeprefix(b"\xef\xbb\xbf"))]
    expected = [n for n, line in enumerate(physical, start=1) if line.decode("utf-8", "replace").strip()]
    assert [item.line if isinstance(item, Reject) else item[0] for item in items] == expected
    _assert_storable(items)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.lists(_odd, min_size=5, max_size=5), min_size=1, max_size=6),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    noise=st.binary(max_size=30),
)
def test_csv_reader_gives_one_ticket_or_reject_per_record_whatever_the_text(
    rows: list[list[str]], ending: str, noise: bytes
) -> None:
    buffer = io.StringIO(newline="")
    # The csv module quotes a cell with a line break only if that character is part of its own line end.
    quoting = csv.QUOTE_MINIMAL if ending == "\r\n" else csv.QUOTE_ALL
    writer = csv.writer(buffer, lineterminator=ending, quoting=quoting)
    writer.writerow(["id", "subject", "body", "received_at", "plan"])
    writer.writerows(rows)
    data = buffer.getvalue().encode("utf-8", "surrogatepass")
    items = _read(data, name="fuzz.csv")
    assert len(items) == len(rows)
    _assert_storable(items)
    # Arbitrary bytes after the header never raise either.
    _assert_storable(_read(HEADER.encode() + noise, name="noise.csv"))


# -- wide headers, UTF-16 (issue 10, items 7 and 10) ----------------------------------------------------------------


@pytest.mark.timeout(60)  # not a measurement (see benchmarks/bench_wide_header.py); a guard against quadratic time
def test_a_header_with_100k_columns_is_read_and_a_repeated_name_is_named() -> None:
    names = ["id", "subject", "body", "received_at", "plan", *(f"c{i}" for i in range(100_000))]
    row = ["W-1", "Login fails", "Nobody can log in", "2026-11-26T09:00:00+01:00", "standard", *("x" * 100_000)]
    [ticket] = _tickets(_read((",".join(names) + "\n" + ",".join(row) + "\n").encode(), name="wide.csv"))
    assert len(ticket.extra) == 100_000
    with pytest.raises(InputError) as error:
        _read((",".join([*names, "c99999"]) + "\n").encode(), name="wide.csv")
    assert str(error.value) == ("wide.csv: line 1: column 'c99999' appears twice in the header; names must be unique")


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\x00\x00\n",  # found by the fuzz test below: NULs on both byte parities are not UTF-16
        b'{"id": "A-1"}\n\x00\x00\x00\x00\x00\x00\x00\x00\n',
        b"\x00\x01\x00\x00\x02\x00\x00\x00\n",
        b"\x00\x01\x01\x01\x01\x01\n",  # found by the fuzz test: one NUL in six bytes is not UTF-16 either
    ],
)
def test_nul_bytes_that_are_not_utf16_text_are_rejected_line_by_line(data: bytes) -> None:
    items = _read(data, name="junk.jsonl")
    lines = [item.line for item in items if isinstance(item, Reject)]
    assert lines and lines[-1] == data.count(b"\n")


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_explained_and_reads_with_the_encoding_option(codec: str) -> None:
    data = (HEADER + "U-1,Prihlásenie,Nejde to,2026-11-26T09:00:00+01:00,standard\n").encode(codec)
    with pytest.raises(InputError) as error:
        _read(data, name="excel.csv")
    message = str(error.value)
    assert message == (
        f'excel.csv: the file is UTF-16, not UTF-8 (Excel\'s "Unicode text"); run again with --encoding {codec}, '
        'or save it as "CSV UTF-8"'
    )
    assert "\x00" not in message
    [ticket] = _tickets(_read(data, name="excel.csv", encoding=codec))
    assert (ticket.id, ticket.subject) == ("U-1", "Prihlásenie")
