"""The window history's row: one closed window of one thing under one behavior.

Written by the self-hosted evaluator (through Firehose, as Parquet, partitioned by day) when the
history is on, exported from managed Detect's ``ListMetricValues`` by the lab's ``export-managed``,
and read by the Detect lab (DuckDB over local Parquet, Athena over the history table) and by the
learned-behavior trainer. One schema for all of them: the Glue table's columns are these.

- ``window_start`` / ``window_end``: epoch seconds (a window of ``durationSeconds`` aligned to the
  epoch; for a per-datapoint metric exported from managed Detect, the datapoint's time twice);
- ``value``: the window's aggregate (the sum of its datapoints, 0 for an empty window judged as 0);
- ``verdict``: ``violating``, ``normal``, or ``unjudged`` (a statistical window closed without a fleet
  threshold, or an exported value that no behavior judged);
- partition ``dt`` (``YYYY-MM-DD``, UTC): in the history bucket, the day Firehose received the row
  (its ``!{timestamp:yyyy-MM-dd}`` prefix), normally minutes after ``window_end``; in files the lab
  writes itself, the day of ``window_end`` (``partition_day``). Readers filter on ``window_end`` and
  take a ``dt`` range one day wider.

Delivery is at least once (a batch retried after a failure records its windows again): readers
count a window once per ``(profile, behavior, thing_name, window_start)``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

VIOLATING, NORMAL, UNJUDGED = "violating", "normal", "unjudged"
VERDICTS = (VIOLATING, NORMAL, UNJUDGED)

# (name, Glue/Athena type) in table order; Parquet types: string -> BYTE_ARRAY (UTF8), bigint -> INT64,
# double -> DOUBLE.
HISTORY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("thing_name", "string"),
    ("profile", "string"),
    ("behavior", "string"),
    ("metric", "string"),
    ("window_start", "bigint"),
    ("window_end", "bigint"),
    ("value", "double"),
    ("verdict", "string"),
)
PARTITION_COLUMN = ("dt", "string")
KEY_COLUMNS = ("profile", "behavior", "thing_name", "window_start")  # a window is counted once per key


def verdict_of(violating: bool | None) -> str:
    if violating is None:
        return UNJUDGED
    return VIOLATING if violating else NORMAL


def history_row(
    *, profile: str, behavior: str, metric: str, thing_name: str, start: float, end: float, value: float, verdict: str
) -> dict[str, Any]:
    """One row, with the columns of ``HISTORY_COLUMNS`` in order (the partition is not a column of the
    files: Firehose puts the row under ``dt=<day it received it>``)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict '{verdict}' must be one of {', '.join(VERDICTS)}")
    return {
        "thing_name": thing_name,
        "profile": profile,
        "behavior": behavior,
        "metric": metric,
        "window_start": int(start),
        "window_end": int(end),
        "value": float(value),
        "verdict": verdict,
    }


def partition_day(window_end: float) -> str:
    """The ``dt`` partition the lab gives a row it writes itself: the UTC day its window ended."""
    return datetime.fromtimestamp(window_end, UTC).strftime("%Y-%m-%d")
