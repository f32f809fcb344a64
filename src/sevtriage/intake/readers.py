"""Reading request files: CSV or JSONL in, `Ticket`s and `Reject`s out, one at a time.

Readers never hold more than one record: a file of any size streams through. A bad row becomes a `Reject`
with its line number, the raw text and the reason; it never stops the run. A problem with the file as a whole
(no header, no `id` column, an encoding that cannot work) is an `InputError`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np

from sevtriage.errors import InputError
from sevtriage.text import MAX_PLAN_LENGTH, id_problem, storable
from sevtriage.types import Ticket

if TYPE_CHECKING:
    from sevtriage.sla import SlaPolicy

Format = Literal["csv", "jsonl"]
FORMATS: tuple[str, ...] = ("csv", "jsonl")
CORE_FIELDS = frozenset({"id", "subject", "body", "received_at", "plan"})
_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_BOM = codecs.BOM_UTF8
_FIELD_LIMIT = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Reject:
    """A row that could not become a request: where it was, what it said, and why it was refused."""

    line: int
    raw: str
    reason: str
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The reject as written to the rejects file; text no file can hold (a lone surrogate) becomes U+FFFD."""
        shown_id = storable(self.id) if self.id is not None else None
        return {"line": self.line, "id": shown_id, "reason": storable(self.reason), "raw": storable(self.raw)}


@dataclass(frozen=True, slots=True)
class Row:
    """One record as read from the file, before validation."""

    line: int
    raw: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class IntakeRules:
    """What a valid request looks like beyond its shape: the plans the SLA policy knows and the default one."""

    plans: frozenset[str] | None = None
    default_plan: str | None = None
    # None: a missing `received_at` is a reject (batch files). The API passes the arrival instant instead.
    default_received_at: datetime | None = None

    @classmethod
    def from_policy(cls, policy: SlaPolicy | None) -> IntakeRules:
        """The plans of an SLA policy and its default plan (no policy: any plan, none filled in)."""
        if policy is None:
            return cls()
        return cls(plans=frozenset(policy.plans), default_plan=policy.default_plan)


# ---------------------------------------------------------------------------------------------- detection


def check_encoding(encoding: str) -> str:
    """The codec's canonical name; refuse names that are not text encodings."""
    try:
        info = codecs.lookup(encoding)
        "a".encode(info.name)
    except LookupError:
        known = "unknown encoding" if not _is_codec(encoding) else "encoding"
        what = "" if known == "unknown encoding" else " is not a text encoding"
        raise InputError(
            f"{known} {encoding!r}{what}; use a Python codec name such as utf-8, cp1250 or iso8859-2"
        ) from None
    return info.name


def _is_codec(encoding: str) -> bool:
    try:
        codecs.lookup(encoding)
    except LookupError:
        return False
    return True


def _keeps_ascii(codec: str) -> bool:
    """Whether the codec writes ASCII as ASCII bytes (lines are then split on bytes, see `_split_lines`)."""
    return "\n\r,;{}\"'".encode(codec, errors="replace") == b"\n\r,;{}\"'"


def _utf16_hint(head: bytes, name: str) -> None:
    """Refuse a UTF-16 file read as an ASCII-compatible encoding, saying which --encoding reads it.

    Excel's "Unicode text" is UTF-16: read as UTF-8 its NUL bytes would end up in every message and field.
    """
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16"
    else:
        sample = head[: len(head) - len(head) % 2]
        # ASCII letters in UTF-16 have their NUL byte second (little-endian) or first (big-endian): text has at
        # least half of one side's bytes NUL and few of the other's. Fewer NULs, or NULs on both sides, are binary
        # junk, which the readers reject line by line like any other bad line.
        first, second = sample[0::2].count(0), sample[1::2].count(0)
        heavy, light = max(first, second), min(first, second)
        if len(sample) < 4 or heavy * 4 < len(sample) or light * 4 > heavy:
            return
        codec = "utf-16-le" if second > first else "utf-16-be"
    raise InputError(
        f'{name}: the file is UTF-16, not UTF-8 (Excel\'s "Unicode text"); run again with --encoding {codec}, '
        'or save it as "CSV UTF-8"'
    )


def detect_format(name: str | None, head: bytes, given: str | None = None) -> Format:
    """`given` if set, else the file extension, else the first non-blank byte (``{`` means JSONL)."""
    if given:
        if given not in FORMATS:
            raise InputError(f"--format must be one of {', '.join(FORMATS)}; got {given!r}")
        return "jsonl" if given == "jsonl" else "csv"
    if name:
        suffix = Path(name).suffix.lower()
        if suffix in _EXTENSIONS:
            return _EXTENSIONS[suffix]
    stripped = head.removeprefix(_BOM).lstrip()
    if stripped.startswith(b"{"):
        return "jsonl"
    if stripped:
        return "csv"
    return "jsonl"


def detect_delimiter(header: str) -> str:
    """The delimiter of a CSV header line: ``;`` (Slovak and Czech Excel), tab or ``,``."""
    counts = {d: 0 for d in (",", ";", "\t")}
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


# ---------------------------------------------------------------------------------------------- readers


_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")


def _split_lines(binary: Iterable[bytes]) -> Iterator[bytes]:
    """Lines ending in LF, CRLF or a lone CR (old Mac and some Excel exports); each keeps its line end.

    A binary file iterates on LF only, so a CR-only file would be one line. The encodings we accept keep ASCII
    (`check_encoding`), so a CR byte is always a line end or a CR inside a quoted cell, never part of a letter.
    """
    for chunk in binary:
        cr = chunk.find(b"\r")
        if cr == -1 or (cr == len(chunk) - 2 and chunk.endswith(b"\r\n")):
            yield chunk
            continue
        yield from (part for part in _LONE_CR.split(chunk) if part)


def _decoded_lines(binary: Iterable[bytes], encoding: str, problems: dict[int, str]) -> Iterator[str]:
    """Decode line by line, so one badly encoded line is one reject rather than the end of the run."""
    utf8 = encoding == "utf-8"
    for number, chunk in enumerate(_split_lines(binary), start=1):
        if number == 1 and chunk.startswith(_BOM):
            chunk = chunk[len(_BOM) :]
        try:
            yield chunk.decode(encoding)
        except UnicodeDecodeError as error:
            hint = " (an old Windows export? try --encoding cp1250)" if utf8 else ""
            problems[number] = f"line is not valid {encoding} at byte {error.start + 1} of the line{hint}"
            yield chunk.decode(encoding, errors="replace")


def read_jsonl(binary: Iterable[bytes], encoding: str = "utf-8") -> Iterator[Row | Reject]:
    """One JSON object per line; blank lines are skipped."""
    problems: dict[int, str] = {}
    for number, text in enumerate(_decoded_lines(binary, encoding, problems), start=1):
        if not text.strip():
            continue
        raw = text.rstrip("\r\n")
        if number in problems:
            yield Reject(number, raw, problems.pop(number))
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            yield Reject(number, raw, f"not valid JSON: {error.msg} at column {error.colno}")
            continue
        except RecursionError:
            yield Reject(
                number, raw, f"not usable JSON: nested too deeply (more than about {sys.getrecursionlimit()} levels)"
            )
            continue
        except ValueError as error:
            # Python refuses to read integers of more than 4300 digits (CVE-2020-10735); any other value error
            # of the parser is reported as it is.
            reason = (
                f"not usable JSON: a number has more than {sys.get_int_max_str_digits()} digits; "
                "write long numbers as text in quotes"
                if "integer string conversion" in str(error)
                else f"not usable JSON: {error}"
            )
            yield Reject(number, raw, reason)
            continue
        if not isinstance(value, dict):
            yield Reject(number, raw, f"each line must be a JSON object {{...}}; got {type(value).__name__}")
            continue
        yield Row(number, raw, value)


class _LineTap:
    """Feeds the csv module line by line and remembers the lines of the current record (its raw text)."""

    __slots__ = ("_lines", "consumed", "line_no", "source")

    def __init__(self, source: Iterator[str]) -> None:
        self.source = source
        self.consumed: list[str] = []
        self.line_no = 0

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self.source)
        self.line_no += 1
        self.consumed.append(line)
        return line

    def take(self) -> tuple[int, str]:
        """Line number where the record started and its raw text; resets for the next record."""
        start = self.line_no - len(self.consumed) + 1
        raw = "".join(self.consumed).rstrip("\r\n")
        self.consumed.clear()
        return start, raw


def read_csv(
    binary: Iterable[bytes], encoding: str = "utf-8", *, name: str = "input", delimiter: str | None = None
) -> Iterator[Row | Reject]:
    """CSV with a header line naming the columns; ``,`` ``;`` or tab detected from the header."""
    problems: dict[int, str] = {}
    lines = _decoded_lines(binary, encoding, problems)
    header_line = next(lines, None)
    header_no = 1
    while header_line is not None and not header_line.strip():
        header_line = next(lines, None)
        header_no += 1
    if header_line is None:
        return
    if csv.field_size_limit() < _FIELD_LIMIT:
        # The default (128 KiB) is smaller than a long e-mail thread pasted into one cell.
        csv.field_size_limit(_FIELD_LIMIT)
    sep = delimiter or detect_delimiter(header_line)
    header = [h.strip().lower() for h in next(csv.reader([header_line], delimiter=sep))]
    if "id" not in header:
        raise InputError(
            f"{name}: line {header_no}: the header has no 'id' column (found: {_names(header)}); "
            "the first line must name the columns, e.g. id,subject,body,received_at,plan"
            + ("; is this JSONL? use --format jsonl" if header_line.lstrip().startswith("{") else "")
        )
    # Counted once: `header.count` per name was quadratic (100 s for a 100,000-column header).
    duplicated = sorted(name for name, times in Counter(header).items() if times > 1)
    if duplicated:
        raise InputError(
            f"{name}: line {header_no}: column {duplicated[0]!r} appears twice in the header; names must be unique"
        )
    width = len(header)
    tap = _LineTap(lines)
    tap.line_no = header_no
    reader = csv.reader(tap, delimiter=sep, strict=True)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            line, raw = tap.take()
            yield Reject(line, raw, f"not valid CSV: {error}")
            continue
        line, raw = tap.take()
        if not values or (len(values) == 1 and not values[0].strip()):
            continue
        bad = next((problems.pop(n) for n in range(line, line + raw.count("\n") + 1) if n in problems), None)
        if bad is not None:
            yield Reject(line, raw, bad)
            continue
        if len(values) != width:
            yield Reject(
                line,
                raw,
                f"row has {len(values)} fields but the header has {width}; quote fields that contain "
                f"{sep!r} or line breaks",
            )
            continue
        yield Row(line, raw, dict(zip(header, values, strict=True)))


def _names(header: list[str]) -> str:
    """The column names for a message: all of a normal header, the first 20 of a very wide one."""
    if not header:
        return "nothing"
    shown = ", ".join(header[:20])
    return shown if len(header) <= 20 else f"{shown} and {len(header) - 20:,} more"


def read_rows(
    stream: IO[bytes], *, name: str | None, format: str | None = None, encoding: str = "utf-8"
) -> tuple[Format, Iterator[Row | Reject]]:
    """Pick the reader for a binary stream (format from `format`, the name, or a peek at the first bytes)."""
    codec = check_encoding(encoding)
    if not _keeps_ascii(codec):
        # UTF-16 and UTF-32: recoded to UTF-8 on the way in, so that the readers can split lines on bytes.
        stream, codec = io.BufferedReader(_Recoded(stream, codec)), "utf-8"
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(_Raw(stream))
    head = buffered.peek(512)[:512]
    _utf16_hint(head, name or "input")
    fmt = detect_format(name, head, format)
    if fmt == "jsonl":
        return fmt, read_jsonl(buffered, codec)
    return fmt, read_csv(buffered, codec, name=name or "input")


class _Recoded(io.RawIOBase):
    """The bytes of a stream in another encoding, as UTF-8; a byte sequence invalid there becomes U+FFFD."""

    def __init__(self, inner: IO[bytes], codec: str) -> None:
        self._inner = inner
        self._decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._done:
            chunk = self._inner.read(65536)
            self._done = not chunk
            self._pending = self._decoder.decode(chunk, final=self._done).encode("utf-8")
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class _Raw(io.RawIOBase):
    """Adapts any binary file object (e.g. BytesIO) so that it can be peeked at through a BufferedReader."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# ---------------------------------------------------------------------------------------------- validation


def _text(value: Any) -> str | None:
    """A field as text; None when missing or empty. Numbers are accepted as text, containers are not."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | dict | list):
        raise ValueError(f"must be text; got {storable(json.dumps(value, ensure_ascii=False)[:40])}")
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(f"must be text; got {type(value).__name__}")


def parse_instant(value: str) -> datetime:
    """An ISO-8601 instant with offset; naive or unparsable values raise ValueError with the fix."""
    text = value.strip()
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"unparsable received_at {value!r}: expected an ISO-8601 instant with offset, e.g. "
            "2026-11-27T16:30:00+01:00 or 2026-11-27T15:30:00Z"
        ) from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(
            f"naive received_at {value!r} has no UTC offset, so the deadline would depend on the server's zone; "
            f"write it with an offset, e.g. {instant.isoformat(timespec='minutes')}+01:00"
        )
    return instant


def ticket_from_fields(fields: Mapping[str, Any], rules: IntakeRules) -> Ticket:
    """Validate one record into a `Ticket`; raises ValueError whose message is the reject reason."""
    try:
        ticket_id = _text(fields.get("id"))
    except ValueError as error:
        raise ValueError(f"id {error}") from None
    if ticket_id is None or not ticket_id.strip():
        raise ValueError("missing id: every request needs a non-empty 'id'")
    ticket_id = ticket_id.strip()
    problem = id_problem(ticket_id)
    if problem is not None:
        raise ValueError(problem)
    try:
        # Text a database cannot hold becomes U+FFFD here, the one boundary of the CLI and the API (README).
        subject = storable(_text(fields.get("subject")) or "")
        body = storable(_text(fields.get("body")) or "")
    except ValueError as error:
        raise ValueError(f"subject/body {error}") from None
    if not subject.strip() and not body.strip():
        raise ValueError("empty text: subject and body are both empty; at least one must say what is wrong")
    received_raw = fields.get("received_at")
    received: datetime | None
    if received_raw is None or (isinstance(received_raw, str) and not received_raw.strip()):
        if rules.default_received_at is None:
            raise ValueError("missing received_at: deadlines need the arrival instant, e.g. 2026-11-27T16:30:00+01:00")
        received = rules.default_received_at
    elif isinstance(received_raw, datetime):
        if received_raw.tzinfo is None or received_raw.utcoffset() is None:
            raise ValueError(f"naive received_at {received_raw.isoformat()!r} has no UTC offset; give it one")
        received = received_raw
    elif isinstance(received_raw, str):
        received = parse_instant(received_raw)
    else:
        raise ValueError(
            f"received_at must be an ISO-8601 text such as 2026-11-27T16:30:00+01:00; got {received_raw!r}"
        )
    plan_raw = fields.get("plan")
    plan: str | None
    if plan_raw is None or (isinstance(plan_raw, str) and not plan_raw.strip()):
        plan = rules.default_plan
    elif isinstance(plan_raw, str):
        plan = storable(plan_raw.strip().lower())
        if rules.plans is not None and plan not in rules.plans:
            raise ValueError(f"unknown plan {plan_raw!r}; plan must be one of {', '.join(sorted(rules.plans))}")
        if len(plan) > MAX_PLAN_LENGTH:
            raise ValueError(f"plan is {len(plan)} characters long; plans may have at most {MAX_PLAN_LENGTH}")
    else:
        raise ValueError(f"plan must be text; got {plan_raw!r}")
    extra: dict[str, str] = {}
    for key, value in fields.items():
        if key in CORE_FIELDS or value is None or value == "":
            continue
        try:
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        except RecursionError:
            raise ValueError(f"field {storable(str(key))!r} is nested too deeply to keep") from None
        extra[storable(str(key))] = storable(shown)
    return Ticket(id=ticket_id, subject=subject, body=body, received_at=received, plan=plan, extra=extra)


_ADDED_BITS = 1 << 23


class SeenIds:
    """Ids already accepted, kept as 64-bit hashes in sorted numpy runs: 16 bytes per id (and a 1 MiB filter), no
    Python objects.

    A million ids cost 16 MB instead of ~100 MB for a set of strings. Two different ids share a hash with
    probability about n^2 / 2^65 (3e-8 for a million); such a pair would be reported as a duplicate.
    """

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]] = []
        self._pending: dict[int, int] = {}
        # One bit per hash value modulo its size, set for every id added: an id whose bit is clear is new without
        # searching the runs (nearly every id of a batch file; 1 MiB, clear for nine in ten of a million ids).
        self._added = bytearray(_ADDED_BITS // 8)

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self._runs) + len(self._pending)

    def first_line(self, ticket_id: str) -> int | None:
        """The line where this id was first accepted, or None if it is new."""
        key = hash(ticket_id)
        if key in self._pending:
            return self._pending[key]
        bit = key & (_ADDED_BITS - 1)
        if not self._added[bit >> 3] & (1 << (bit & 7)):
            return None
        for keys, lines in self._runs:
            # The array's own method and a Python int: numpy's function wrapper and scalar comparison cost more
            # than the search (a batch looks up every id).
            at = keys.searchsorted(key)
            if at < len(keys) and keys[at].item() == key:
                return int(lines[at])
        return None

    def add(self, ticket_id: str, line: int) -> None:
        key = hash(ticket_id)
        self._pending[key] = line
        bit = key & (_ADDED_BITS - 1)
        self._added[bit >> 3] |= 1 << (bit & 7)
        if len(self._pending) >= 4096:
            self._flush()

    def _flush(self) -> None:
        keys = np.fromiter(self._pending.keys(), dtype=np.int64, count=len(self._pending))
        lines = np.fromiter(self._pending.values(), dtype=np.int64, count=len(self._pending))
        self._pending.clear()
        order = np.argsort(keys, kind="stable")
        keys, lines = keys[order], lines[order]
        # Merge equal-sized runs (a binary counter), so lookups check O(log n) runs.
        while self._runs and len(self._runs[-1][0]) <= len(keys):
            old_keys, old_lines = self._runs.pop()
            keys = np.concatenate([old_keys, keys])
            lines = np.concatenate([old_lines, lines])
            order = np.argsort(keys, kind="stable")
            keys, lines = keys[order], lines[order]
        self._runs.append((keys, lines))


def validate(rows: Iterable[Row | Reject], rules: IntakeRules) -> Iterator[tuple[int, Ticket] | Reject]:
    """Turn rows into (line, Ticket) pairs, refusing bad ones (and repeated ids) as `Reject`s."""
    seen = SeenIds()
    for row in rows:
        if isinstance(row, Reject):
            yield row
            continue
        raw_id = row.fields.get("id")
        shown_id = str(raw_id).strip() if raw_id is not None and str(raw_id).strip() else None
        try:
            ticket = ticket_from_fields(row.fields, rules)
        except ValueError as error:
            yield Reject(row.line, row.raw, str(error), shown_id)
            continue
        first = seen.first_line(ticket.id)
        if first is not None:
            yield Reject(
                row.line,
                row.raw,
                f"duplicate id {ticket.id!r}: line {first} has the same id; ids must be unique within a file",
                ticket.id,
            )
            continue
        seen.add(ticket.id, row.line)
        yield row.line, ticket


def open_input(path: str | Path, stdin: IO[bytes] | None = None) -> tuple[IO[bytes], str | None]:
    """A binary stream for a path, or for ``-`` standard input; with the name used for detection and messages."""
    if str(path) == "-":
        if stdin is None:
            import sys

            stdin = sys.stdin.buffer
        return stdin, None
    try:
        return open(path, "rb"), str(path)
    except FileNotFoundError:
        raise InputError(f"input file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"input {str(path)!r} is a directory; give a CSV or JSONL file") from None
    except PermissionError:
        raise InputError(f"input file {str(path)!r} cannot be read (permission denied)") from None
