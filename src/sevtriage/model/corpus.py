"""Labelled training data: reading CSV / JSONL files and the `data/` folder, the fixed held-out split.

A labelled request needs `subject` and/or `body` and a `severity` (1-4 or critical/high/medium/low).
`id`, `language`, `topic` and `tags` are optional. The `data/` folder holds the corpus under
`data/corpus/<language>/*.jsonl` and the held-out ids in `data/heldout_ids.txt`; requests listed
there are kept out of training and used for evaluation.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sevtriage.errors import InputError
from sevtriage.text import model_text
from sevtriage.types import Severity

HELDOUT_FILE = "heldout_ids.txt"
CORPUS_DIR = "corpus"
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")


class DataError(InputError):
    """A labelled data file cannot be used; the message names the file, the line and the fix."""


@dataclass(frozen=True, slots=True)
class LabelledRequest:
    """One request with the severity a person gave it."""

    id: str
    subject: str
    body: str
    severity: Severity
    language: str | None = None
    topic: str | None = None
    tags: tuple[str, ...] = ()
    origin: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Split:
    """Training and held-out parts of a corpus."""

    train: list[LabelledRequest]
    heldout: list[LabelledRequest]


# -- reading -------------------------------------------------------------------------------------


def read_labelled(path: str | Path) -> list[LabelledRequest]:
    """Read one labelled file, or every data file of a folder (`data/` reads `data/corpus/**`).

    Raises `DataError` naming the file and line of the first unusable row, or when nothing was found.
    """
    path = Path(path)
    if path.is_dir():
        files = corpus_files(path)
        if not files:
            raise DataError(
                f"{path}: no labelled data files found; expected {CORPUS_DIR}/<language>/*.jsonl or "
                f"files ending in {', '.join(SUFFIXES)}"
            )
        records = [r for f in files for r in _read_file(f)]
    elif path.exists():
        records = _read_file(path)
    else:
        raise DataError(f"{path}: no such file or folder; give a labelled CSV/JSONL file or the data/ folder")
    _check_unique(records)
    if not records:
        raise DataError(f"{path}: contains no labelled requests")
    return records


def corpus_files(folder: Path) -> list[Path]:
    """The data files of a folder, sorted: `corpus/**` when there is one, else every data file below it."""
    root = folder / CORPUS_DIR if (folder / CORPUS_DIR).is_dir() else folder
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def _read_file(path: Path) -> list[LabelledRequest]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: is not UTF-8 (byte {error.start}); save it as UTF-8") from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = list(_jsonl_rows(path, text))
    elif suffix == ".json":
        rows = list(_json_rows(path, text))
    elif suffix in (".csv", ".tsv"):
        rows = list(_csv_rows(path, text, "\t" if suffix == ".tsv" else None))
    else:
        raise DataError(f"{path}: unknown data file type {suffix!r}; use one of {', '.join(SUFFIXES)}")
    return [_record(path, line, row) for line, row in rows]


def _jsonl_rows(path: Path, text: str) -> Iterable[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(
                f"{path}:{number}: not valid JSON ({error.msg}); each line must be one JSON object"
            ) from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: each line must be a JSON object; got {type(row).__name__}")
        yield number, row


def _json_rows(path: Path, text: str) -> Iterable[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{path}: a .json data file must hold a list of objects; use .jsonl for one object per line")
    yield from enumerate(data, start=1)


class _CountedLines:
    """Lines of a text, counting how many the csv module has taken (so a record's first line is known)."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.taken = 0

    def __iter__(self) -> _CountedLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken += 1
        return line


def _csv_rows(path: Path, text: str, delimiter: str | None) -> Iterable[tuple[int, dict[str, Any]]]:
    if delimiter is None:
        first = text.split("\n", 1)[0]
        # Excel in Slovakia and Czechia writes `;`.
        delimiter = ";" if first.count(";") > first.count(",") else ","
    lines = _CountedLines(text)
    reader = csv.reader(lines, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    if "subject" not in header and "body" not in header:
        raise DataError(
            f"{path}:{lines.taken}: the header has no 'subject' or 'body' column (found: {', '.join(header)}); "
            "name the request text columns subject and body"
        )
    while True:
        # A record may span several lines (a quoted cell with line breaks); messages name the line it starts on,
        # where a reader finds it, not the line it ends on.
        start = lines.taken + 1
        values = next(reader, None)
        if values is None:
            return
        if not values:
            continue
        if len(values) > len(header):
            raise DataError(
                f"{path}:{start}: more fields than the header has columns; quote fields that contain {delimiter!r}"
            )
        yield start, {name: values[i] if i < len(values) else None for i, name in enumerate(header)}


def _record(path: Path, line: int, row: dict[str, Any]) -> LabelledRequest:
    where = f"{path}:{line}"
    if "subject" not in row and "body" not in row:
        raise DataError(
            f"{where}: no 'subject' or 'body' field (found: {', '.join(map(str, row))}); "
            "name the request text fields subject and body"
        )
    subject = _text(row.get("subject"))
    body = _text(row.get("body"))
    if not subject.strip() and not body.strip():
        raise DataError(f"{where}: subject and body are both empty; at least one must hold the request text")
    if "severity" not in row:
        raise DataError(f"{where}: the column 'severity' is missing; labelled data needs subject, body and severity")
    try:
        severity = Severity.parse(row["severity"])
    except ValueError as error:
        raise DataError(f"{where}: {error}") from None
    identifier = _text(row.get("id")).strip() or f"{path.name}:{line}"
    tags_value = row.get("tags") or ()
    if isinstance(tags_value, str):
        tags = tuple(t.strip() for t in tags_value.replace(";", ",").split(",") if t.strip())
    elif isinstance(tags_value, list):
        tags = tuple(str(t) for t in tags_value)
    else:
        tags = ()
    return LabelledRequest(
        id=identifier,
        subject=subject,
        body=body,
        severity=severity,
        language=_text(row.get("language")).strip() or None,
        topic=_text(row.get("topic")).strip() or None,
        tags=tags,
        origin=where,
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _check_unique(records: Sequence[LabelledRequest]) -> None:
    seen: dict[str, str] = {}
    for record in records:
        if record.id in seen:
            raise DataError(
                f"{record.origin}: id {record.id!r} is already used at {seen[record.id]}; ids must be unique"
            )
        seen[record.id] = record.origin


# -- the held-out split --------------------------------------------------------------------------


def read_heldout_ids(folder: str | Path) -> frozenset[str]:
    """The held-out ids of a data folder (empty when it has no split file)."""
    split_file = Path(folder) / HELDOUT_FILE
    if not split_file.exists():
        return frozenset()
    lines = split_file.read_text(encoding="utf-8").splitlines()
    return frozenset(s.strip() for s in lines if s.strip() and not s.startswith("#"))


def split(records: Sequence[LabelledRequest], heldout_ids: Iterable[str]) -> Split:
    """Held-out requests are those listed; every other request (including new ones) trains."""
    held = frozenset(heldout_ids)
    return Split(
        train=[r for r in records if r.id not in held],
        heldout=[r for r in records if r.id in held],
    )


def training_split(path: str | Path) -> Split:
    """What `sevtriage train` and `evaluate` use: a data folder's held-out split, or a whole file as training."""
    records = read_labelled(path)
    if Path(path).is_dir():
        return split(records, read_heldout_ids(path))
    return Split(train=records, heldout=[])


def choose_heldout(records: Sequence[LabelledRequest], fraction: float = 0.2) -> list[str]:
    """A held-out id list stratified by language and severity, reproducible from the ids alone.

    Inside each (language, severity) group the ids are ordered by their SHA-256 and the first
    `fraction` of them are held out, so the choice needs no random state and survives reordering.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be between 0 and 1 (exclusive); got {fraction}")
    groups: dict[tuple[str, int], list[str]] = {}
    for record in records:
        groups.setdefault((record.language or "", int(record.severity)), []).append(record.id)
    chosen: list[str] = []
    for ids in groups.values():
        ordered = sorted(ids, key=lambda i: hashlib.sha256(i.encode("utf-8")).hexdigest())
        chosen.extend(ordered[: max(1, round(len(ordered) * fraction))] if len(ordered) > 1 else [])
    return sorted(chosen)


# -- groups for validation that looks like new wording -------------------------------------------

# A corpus part file is one writer's batch; folds split by part so validation never sees its own batch.
MIN_GROUPS_PER_FOLD = 2
BLOCKS_PER_FOLD = 10


@dataclass(frozen=True, slots=True)
class Grouping:
    """Which validation group each training request belongs to, and how the groups were made."""

    groups: tuple[str, ...]
    method: str
    description: str

    @property
    def count(self) -> int:
        return len(set(self.groups))


def validation_groups(records: Sequence[LabelledRequest], folds: int) -> Grouping:
    """Groups for group k-fold validation: the file each request came from (a corpus part: one writer's batch).

    When the requests come from fewer than `2 * folds` files (one exported CSV, say), the fallback is
    `10 * folds` contiguous blocks of rows in file order: trackers and mailboxes export in time order,
    so a block is a stretch of time with its own topics and wording, which random rows would leak.
    """
    files = [r.origin.rsplit(":", 1)[0] if ":" in r.origin else r.origin for r in records]
    distinct = len(set(files))
    if distinct >= MIN_GROUPS_PER_FOLD * folds:
        return Grouping(
            tuple(files),
            "file",
            f"group k-fold by source file ({distinct} files: each corpus part is one writer's batch)",
        )
    blocks = max(1, min(len(records), BLOCKS_PER_FOLD * folds))
    groups = tuple(f"block-{i * blocks // len(records):03d}" for i in range(len(records)))
    return Grouping(
        groups,
        "blocks",
        f"group k-fold by {len(set(groups))} contiguous blocks of about {len(records) // blocks} rows in file order "
        f"(the data came from {distinct} file(s), too few to group by file)",
    )


# -- facts about a corpus --------------------------------------------------------------------------


def data_hash(records: Sequence[LabelledRequest]) -> str:
    """SHA-256 of the labelled content (id, subject, body, severity), independent of file layout."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.id):
        line = json.dumps([record.id, record.subject, record.body, int(record.severity)], ensure_ascii=False)
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def counts(records: Sequence[LabelledRequest]) -> dict[str, dict[str, int]]:
    """Class and language counts, for the model card and `data/README.md`."""
    by_severity = Counter(str(int(r.severity)) for r in records)
    by_language = Counter(r.language or "?" for r in records)
    return {
        "severity": {k: by_severity[k] for k in sorted(by_severity)},
        "language": {k: by_language[k] for k in sorted(by_language)},
    }


@dataclass(frozen=True, slots=True)
class NearDuplicate:
    """Two requests whose texts are almost the same."""

    first: str
    second: str
    similarity: float


def near_duplicates(records: Sequence[LabelledRequest], threshold: float = 0.9) -> list[NearDuplicate]:
    """Pairs whose word TF-IDF cosine similarity exceeds `threshold` (template-made or copied requests)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if len(records) < 2:
        return []
    texts = [model_text(r.subject, r.body) for r in records]
    matrix = TfidfVectorizer(sublinear_tf=True).fit_transform(texts)
    similarity = (matrix @ matrix.T).tocoo()
    found = [
        NearDuplicate(records[i].id, records[j].id, float(v))
        for i, j, v in zip(similarity.row, similarity.col, similarity.data, strict=True)
        if i < j and v > threshold
    ]
    return sorted(found, key=lambda d: -d.similarity)
