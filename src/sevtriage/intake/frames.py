"""pandas in, pandas out: `classify_frame` for notebooks (and, through `sevtriage.appliers`, Dask).

Rows are validated like the batch intake; a row that cannot be classified is kept, with its decision
columns empty and the reason in ``reject_reason``. Output rows keep the input's index and order.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from sevtriage.intake.outputs import FLAT_COLUMNS, flat_record
from sevtriage.intake.pipeline import DEFAULT_BATCH_SIZE, Classifier, intake_rules_for
from sevtriage.intake.readers import SeenIds, ticket_from_fields

FRAME_COLUMNS: tuple[str, ...] = (*FLAT_COLUMNS, "reject_reason")
_DTYPES: dict[str, str] = {
    "severity": "Int64",
    "model_severity": "Int64",
    "confidence": "float64",
    "model_p1": "float64",
    "model_p2": "float64",
    "model_p3": "float64",
    "model_p4": "float64",
    "needs_review": "boolean",
}
_INSTANTS = ("received_at", "initial_response_due", "ongoing_response_due")
# Lists as Arrow list columns, not Python objects: Parquet (Dask's `to_parquet`) needs a type for every column,
# and an object column gives it none (pyarrow cannot infer one from Dask's placeholder values).
_LISTS: dict[str, pd.ArrowDtype] = {
    "review_reasons": pd.ArrowDtype(pa.list_(pa.string())),
    "matched_rules": pd.ArrowDtype(pa.list_(pa.string())),
    "matched_severities": pd.ArrowDtype(pa.list_(pa.int64())),
    "evidence": pd.ArrowDtype(pa.list_(pa.string())),
    "model_top_terms": pd.ArrowDtype(pa.list_(pa.string())),
    "scope": pd.ArrowDtype(pa.list_(pa.string())),
    "scope_evidence": pd.ArrowDtype(pa.list_(pa.string())),
    "missing_details": pd.ArrowDtype(pa.list_(pa.string())),
}
# Fixed dtypes, so that every partition has the same schema whatever its values (Dask needs that).
for _column in FRAME_COLUMNS:
    if _column not in _DTYPES and _column not in _INSTANTS and _column not in _LISTS:
        _DTYPES[_column] = "string"
_INSTANT_DTYPE = "datetime64[ns, UTC]"


def _cell(value: Any) -> Any:
    """pandas' missing markers (NaN, NaT, NA) become None; Timestamps become datetimes."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def output_meta() -> pd.DataFrame:
    """An empty frame with the output columns and dtypes (Dask's ``meta=``)."""
    return _typed(pd.DataFrame({column: pd.Series(dtype="object") for column in FRAME_COLUMNS}))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({**_DTYPES, **_LISTS})
    for column in _INSTANTS:
        frame[column] = pd.to_datetime(frame[column], utc=True).astype(_INSTANT_DTYPE)
    return frame


def classify_frame(triage: Classifier, frame: pd.DataFrame, batch_size: int = DEFAULT_BATCH_SIZE) -> pd.DataFrame:
    """Classify each row of `frame` (columns ``id``, ``subject``, ``body``, ``received_at``, ``plan``, extras).

    Returns a frame with the same index and one column per decision field (see `sevtriage.intake.outputs.FLAT_COLUMNS`;
    lists are Arrow list columns (a cell reads as a Python list), instants are UTC timestamps), plus ``reject_reason``.
    Requests go to the classifier `batch_size` at a time (the CLI's default), so memory does not grow with the frame.
    """
    rules = intake_rules_for(triage)
    records: list[dict[str, Any]] = []
    valid: list[int] = []
    tickets = []
    seen = SeenIds()
    columns = [str(c) for c in frame.columns]
    for position, values in enumerate(frame.itertuples(index=False, name=None)):
        fields: Mapping[Hashable, Any] = {c: _cell(v) for c, v in zip(columns, values, strict=True)}
        record: dict[str, Any] = dict.fromkeys(FRAME_COLUMNS)
        record["id"] = None if fields.get("id") is None else str(fields.get("id")).strip()
        try:
            ticket = ticket_from_fields({str(k): v for k, v in fields.items()}, rules)
            first = seen.first_line(ticket.id)
            if first is not None:
                raise ValueError(f"duplicate id {ticket.id!r}: row {first} has the same id")
            seen.add(ticket.id, position)
        except ValueError as error:
            record["reject_reason"] = str(error)
        else:
            valid.append(position)
            tickets.append(ticket)
        records.append(record)
    # A batch at a time, like the CLI: the model's features for a whole partition (a Dask partition is often a
    # whole file) would take tens of kilobytes a row at once.
    for start in range(0, len(tickets), batch_size):
        batch = tickets[start : start + batch_size]
        for position, decision in zip(valid[start : start + batch_size], triage.classify_many(batch), strict=True):
            records[position].update(flat_record(decision))
    return _typed(pd.DataFrame.from_records(records, columns=list(FRAME_COLUMNS), index=frame.index))
