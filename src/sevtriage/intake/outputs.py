"""Writing decisions (JSONL or flat CSV) and rejects (JSONL), one batch at a time."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from sevtriage.errors import InputError
from sevtriage.intake.readers import Reject
from sevtriage.text import storable
from sevtriage.types import Deadline, Deadlines, Decision, ModelOpinion, RuleMatch, ScopeNote, Ticket

OutputFormat = Literal["jsonl", "csv"]
OUTPUT_FORMATS: tuple[str, ...] = ("jsonl", "csv")
LIST_SEPARATOR = "|"

# The flat record: one column per scalar of the decision; lists joined with "|"; the model's probabilities
# one column per severity; each deadline as its instant and the target that set it; scope notes as their kinds
# and evidence (the policy text they quote is in the JSONL record).
FLAT_COLUMNS: tuple[str, ...] = (
    "id",
    "severity",
    "severity_name",
    "source",
    "confidence",
    "needs_review",
    "review_reasons",
    "matched_rules",
    "matched_severities",
    "evidence",
    "model_severity",
    "model_p1",
    "model_p2",
    "model_p3",
    "model_p4",
    "model_top_terms",
    "plan",
    "received_at",
    "initial_response_due",
    "initial_response_target",
    "ongoing_response_due",
    "ongoing_response_target",
    "scope",
    "scope_evidence",
    "missing_details",
    "rules_version",
    "model_version",
)


def flat_record(decision: Decision) -> dict[str, Any]:
    """The decision as one flat row of typed values (lists stay lists; `csv_row` joins them)."""
    model = decision.model
    probabilities = model.probabilities if model is not None else {}
    deadlines = decision.deadlines
    initial = deadlines.initial_response if deadlines is not None else None
    ongoing = deadlines.ongoing_response if deadlines is not None else None
    return {
        "id": decision.id,
        "severity": int(decision.severity) if decision.severity is not None else None,
        "severity_name": decision.severity_name,
        "source": decision.source,
        "confidence": round(decision.confidence, 4),
        "needs_review": decision.needs_review,
        "review_reasons": list(decision.review_reasons),
        "matched_rules": [m.id for m in decision.matched_rules],
        "matched_severities": [int(m.severity) for m in decision.matched_rules],
        "evidence": [e for m in decision.matched_rules for e in m.evidence],
        "model_severity": int(model.severity) if model is not None else None,
        "model_p1": _probability(probabilities, 1) if model is not None else None,
        "model_p2": _probability(probabilities, 2) if model is not None else None,
        "model_p3": _probability(probabilities, 3) if model is not None else None,
        "model_p4": _probability(probabilities, 4) if model is not None else None,
        "model_top_terms": list(model.top_terms) if model is not None else [],
        "plan": decision.plan,
        "received_at": decision.received_at,
        "initial_response_due": initial.due if initial is not None else None,
        "initial_response_target": initial.target if initial is not None else None,
        "ongoing_response_due": ongoing.due if ongoing is not None else None,
        "ongoing_response_target": ongoing.target if ongoing is not None else None,
        "scope": list(dict.fromkeys(note.kind for note in decision.scope)),
        "scope_evidence": [e for note in decision.scope for e in note.evidence],
        "missing_details": list(decision.missing_details),
        "rules_version": decision.rules_version,
        "model_version": decision.model_version,
    }


def _probability(probabilities: Any, severity: int) -> float:
    return round(float(probabilities.get(severity, 0.0)), 4)


# OWASP, "CSV Injection" (https://owasp.org/www-community/attacks/CSV_Injection): spreadsheet programs run a cell
# that starts with =, +, -, @, tab or carriage return as a formula; a single quote in front makes it text.
FORMULA_START: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """A CSV cell that a spreadsheet shows as text: the OWASP rule above, and U+FFFD for what no file can hold."""
    cell = storable(cell)
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def csv_row(decision: Decision) -> list[str]:
    """The flat record as CSV cells: empty for null, ``true``/``false``, ISO instants, lists joined by ``|``.

    Cells are made safe for spreadsheets (`spreadsheet_safe`).
    """
    cells: list[str] = []
    for value in flat_record(decision).values():
        if value is None:
            cells.append("")
        elif isinstance(value, bool):
            cells.append("true" if value else "false")
        elif isinstance(value, list):
            cells.append(spreadsheet_safe(LIST_SEPARATOR.join(str(v) for v in value)))
        elif hasattr(value, "isoformat"):
            cells.append(value.isoformat())
        else:
            cells.append(spreadsheet_safe(str(value)))
    return cells


class DecisionWriter(Protocol):
    """Where decisions go, a batch at a time."""

    def write(self, pairs: Sequence[tuple[Ticket, Decision]]) -> None: ...

    def close(self) -> None: ...


class TextWriter(DecisionWriter, Protocol):
    """A writer whose batches can be rendered elsewhere (in a worker process) and written as text here."""

    def renderer(self) -> Renderer: ...

    def write_text(self, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Renderer:
    """What a worker needs to turn decisions into exactly the text the parent's writer would write."""

    fmt: str
    delimiter: str = ","

    def render(self, pairs: Sequence[tuple[Ticket, Decision]]) -> str:
        buffer = io.StringIO()
        if self.fmt == "csv":
            csv.writer(buffer, delimiter=self.delimiter, lineterminator="\r\n").writerows(csv_row(d) for _, d in pairs)
        else:
            JsonlWriter(buffer).write(pairs)
        return buffer.getvalue()


# -- the JSONL record as text ---------------------------------------------------------------------------------------
#
# `decision_json(d)` is `json.dumps(d.to_dict(), ensure_ascii=False, separators=(",", ":"))`, written out field by
# field: building the nested dicts and walking them again in the encoder cost more than the strings themselves.
# Strings go through the json module's own string encoder, floats through `float.__repr__` (what the encoder
# uses, `NaN` / `Infinity` as it writes them); rule matches and scope notes, which repeat from request to request,
# are encoded once each. `tests/intake/test_outputs.py` checks byte equality with the encoder.

_json_str: Callable[[str], str] = json.encoder.encode_basestring
# Distinct rule matches and scope notes remembered with their JSON (cleared when full: memory stays bounded).
_PART_LIMIT = 20_000
_parts: dict[object, str] = {}
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json_float(value: float) -> str:
    if not isinstance(value, float):
        # An int (a confidence of exactly 1 may be one) or anything else: as the encoder writes it.
        return _encode(value)
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _json_round4(value: float) -> str:
    """`round(value, 4)` as the encoder writes it.

    For a float below 1e9 in size (every probability, confidence and share) that is its 4-place fixed-point text
    without the trailing zeros, made in one conversion instead of two: `round` and `.4f` round the same exact
    binary value to 4 places alike, and a decimal of at most 13 digits is the shortest text that reads back as its
    float, which is what `repr` writes (no other text of 4 places or fewer is as close there). Both are
    checked against the encoder in `tests/intake/test_outputs.py`.
    """
    if type(value) is float and -1e9 < value < 1e9:
        text = f"{value:.4f}"
        text = text.rstrip("0")
        return text + "0" if text[-1] == "." else text
    rounded = round(value, 4)
    if type(rounded) is float and rounded - rounded == 0.0:
        return float.__repr__(rounded)
    return _json_float(rounded)


def _json_strings(values: Sequence[str]) -> str:
    return "[" + ",".join([_json_str(v) for v in values]) + "]"


def _str_or_null(value: str | None) -> str:
    return "null" if value is None else _json_str(value)


def _part(key: RuleMatch | ScopeNote) -> str:
    found = _parts.get(key)
    if found is None:
        if isinstance(key, RuleMatch):
            found = (
                f'{{"id":{_json_str(key.id)},"severity":{int(key.severity)!r},'
                f'"explanation":{_json_str(key.explanation)},"evidence":{_json_strings(key.evidence)},'
                f'"strength":{_json_str(key.strength)}}}'
            )
        else:
            found = (
                f'{{"kind":{_json_str(key.kind)},"evidence":{_json_strings(key.evidence)},'
                f'"detail":{_json_str(key.detail)},"policy":{_json_str(key.policy)}}}'
            )
        if len(_parts) >= _PART_LIMIT:
            _parts.clear()
        _parts[key] = found
    return found


def _deadline_json(deadline: Deadline) -> str:
    due = "null" if not deadline.due else _json_str(deadline.due.isoformat())
    return f'{{"due":{due},"target":{_str_or_null(deadline.target)},"clause":{_json_str(deadline.clause)}}}'


def _model_json(model: ModelOpinion) -> str:
    probabilities = ",".join([f"{_json_str(str(k))}:{_json_round4(v)}" for k, v in sorted(model.probabilities.items())])
    text = (
        f'{{"severity":{int(model.severity)!r},"probabilities":{{{probabilities}}},'
        f'"top_terms":{_json_strings(model.top_terms)}'
    )
    known = model.familiarity
    if known is None:
        return text + "}"
    return (
        f'{text},"familiarity":{{"known_words":{_json_round4(known.known_words)},'
        f'"known_chars":{_json_round4(known.known_chars)},"nearest":{_json_round4(known.nearest)},'
        f'"facts":{_json_strings(known.facts)},"says_critical":{"true" if known.says_critical else "false"},'
        f'"reasons":{_json_strings(known.reasons)}}}}}'
    )


def decision_json(decision: Decision) -> str:
    """The DESIGN.md record of a decision as one line of JSON: the same text as encoding `decision.to_dict()`."""
    d = decision
    severity = "null" if d.severity is None else repr(int(d.severity))
    name = d.severity_name
    deadlines = d.deadlines
    return (
        f'{{"id":{_json_str(d.id)},"severity":{severity},"severity_name":{_str_or_null(name)},'
        f'"source":{_str_or_null(d.source)},"confidence":{_json_round4(d.confidence)},'
        f'"needs_review":{"true" if d.needs_review else "false"},"review_reasons":{_json_strings(d.review_reasons)},'
        f'"matched_rules":[{",".join([_part(m) for m in d.matched_rules])}],'
        f'"model":{"null" if not d.model else _model_json(d.model)},"plan":{_str_or_null(d.plan)},'
        f'"received_at":{"null" if not d.received_at else _json_str(d.received_at.isoformat())},'
        f'"deadlines":{"null" if not deadlines else _deadlines_json(deadlines)},'
        f'"scope":[{",".join([_part(n) for n in d.scope])}],"missing_details":{_json_strings(d.missing_details)},'
        f'"rules_version":{_json_str(d.rules_version)},"model_version":{_str_or_null(d.model_version)}}}'
    )


def _deadlines_json(deadlines: Deadlines) -> str:
    return (
        f'{{"initial_response":{_deadline_json(deadlines.initial_response)},'
        f'"ongoing_response":{_deadline_json(deadlines.ongoing_response)}}}'
    )


class JsonlWriter:
    """One DESIGN.md decision record per line, UTF-8."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, pairs: Sequence[tuple[Ticket, Decision]]) -> None:
        # Decisions from the intake carry no lone surrogate (`sevtriage.text.storable` at the boundary); one from
        # elsewhere must still not stop the file half-written.
        self._stream.write(storable("".join([decision_json(d) + "\n" for _, d in pairs])))

    def renderer(self) -> Renderer:
        return Renderer("jsonl")

    def write_text(self, text: str) -> None:
        self._stream.write(text)

    def close(self) -> None:
        self._stream.flush()


class CsvWriter:
    """The flat record (`FLAT_COLUMNS`) with a header line."""

    def __init__(self, stream: IO[str], delimiter: str = ",") -> None:
        self._stream = stream
        self._delimiter = delimiter
        self._writer = csv.writer(stream, delimiter=delimiter, lineterminator="\r\n")
        self._writer.writerow(FLAT_COLUMNS)

    def write(self, pairs: Sequence[tuple[Ticket, Decision]]) -> None:
        self._writer.writerows(csv_row(d) for _, d in pairs)

    def renderer(self) -> Renderer:
        return Renderer("csv", self._delimiter)

    def write_text(self, text: str) -> None:
        self._stream.write(text)

    def close(self) -> None:
        self._stream.flush()


class RejectsWriter:
    """Rejects as JSONL (`line`, `id`, `reason`, `raw`). The file is created on the first reject only."""

    def __init__(self, target: Path | IO[str]) -> None:
        self._target = target
        self._stream: IO[str] | None = None if isinstance(target, Path) else target
        self.count = 0

    @property
    def path(self) -> Path | None:
        return self._target if isinstance(self._target, Path) else None

    def write(self, reject: Reject) -> None:
        if self._stream is None:
            assert isinstance(self._target, Path)
            try:
                self._stream = open(self._target, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            except OSError as error:
                raise InputError(f"cannot write the rejects file {str(self._target)!r}: {error.strerror}") from None
        self._stream.write(json.dumps(reject.to_dict(), ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._stream is not None:
            self._stream.flush()
            if isinstance(self._target, Path):
                self._stream.close()


def default_rejects_path(output: str | None, input_name: str | None) -> Path:
    """Next to the output (``out.jsonl`` -> ``out.rejects.jsonl``); in the current directory for stdout."""
    if output and output != "-":
        out = Path(output)
        return out.with_name(f"{out.stem}.rejects.jsonl")
    stem = Path(input_name).stem if input_name and input_name != "-" else "stdin"
    return Path(f"{stem}.rejects.jsonl")


def open_output(output: str | None, *, bom: bool = False) -> tuple[io.TextIOWrapper, bool]:
    """A UTF-8 text stream for a path or stdout (``-`` or None); and whether the caller must close it.

    `bom` starts a file (not stdout) with the UTF-8 byte order mark, which Excel needs to read diacritics
    in a CSV file correctly.
    """
    if output is None or output == "-":
        # Our own wrapper, so that piped output is UTF-8 whatever the locale says.
        return io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=False), False
    try:
        stream = open(output, "w", encoding="utf-8-sig" if bom else "utf-8", newline="")  # noqa: SIM115
    except OSError as error:
        raise InputError(f"cannot write the output file {output!r}: {error.strerror}") from None
    return stream, True


def make_writer(stream: IO[str], fmt: str, delimiter: str = ",") -> DecisionWriter:
    if fmt == "jsonl":
        return JsonlWriter(stream)
    if fmt == "csv":
        return CsvWriter(stream, delimiter)
    raise InputError(f"--output-format must be one of {', '.join(OUTPUT_FORMATS)}; got {fmt!r}")
