"""Appliers beside the core: classify pandas partitions on Dask (or any engine with `map_partitions`).

They load a `Triage` once per worker process from file paths, because a loaded rules engine does not pickle.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd

from sevtriage.intake.frames import classify_frame, output_meta
from sevtriage.triage import Triage

__all__ = ["classify_partition", "output_meta"]


@lru_cache(maxsize=4)
def _bundled_triage(rules: str | None, model: str | None, sla: str | None) -> Triage:
    kwargs: dict[str, Any] = {}
    if model is not None:
        kwargs["model"] = model
    if sla is not None:
        kwargs["sla"] = sla
    return Triage.load(rules, **kwargs)


def classify_partition(
    frame: pd.DataFrame, rules: str | None = None, model: str | None = None, sla: str | None = None
) -> pd.DataFrame:
    """`classify_frame` with a `Triage` loaded once per worker process: pass this to Dask's ``map_partitions``.

    Only the file paths travel to the workers (a loaded rules engine does not pickle).
    """
    return classify_frame(_bundled_triage(rules, model, sla), frame)
