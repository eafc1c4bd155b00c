"""Training statistics from the window history, computed by Athena over the history table: the trainer
never pulls a fleet's windows into the function, it reads one row per slot (73 rows per behavior).

``training_sql`` is the per-slot aggregation of ``evaluation.learned`` (dedup per window, slots, median,
MAD, trimming, nearest-rank quantiles) in SQL that Athena (Trino) and DuckDB both run with the same
results: exact ranks by ``row_number``, not ``approx_percentile``, and every constant a DOUBLE (a decimal
literal would make ``ceil(p x n)`` exact in one engine and IEEE in the other). Tested on DuckDB over
Parquet of the history schema against the Python trainer.

Athena calls (https://docs.aws.amazon.com/athena/latest/APIReference/API_StartQueryExecution.html,
``GetQueryExecution``, ``GetQueryResults``: the first row of the first page is the header, and values
come back as text).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from iot_defender_runtime.adapters.aws_clients import client
from iot_defender_runtime.evaluation.learned import (
    COUNT_SPREAD,
    MAD_TO_SPREAD,
    QUANTILES,
    TRIM_SPREADS,
    Level,
    SlotStats,
    TrainingData,
)

_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
_TABLE = re.compile(r"^[a-zA-Z0-9_]{1,255}(\.[a-zA-Z0-9_]{1,255})?$")
COLUMNS = ("level", "key", "windows", "median", "mad", "q_high", "q_medium", "q_low", "earliest", "things")
_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")
STOP_MARGIN_SECONDS = 30.0  # left to stop the query, write what was trained and publish the metrics


class HistoryQueryError(RuntimeError):
    """The Athena query failed or returned rows of another shape; the message says which."""


def _double(value: float) -> str:
    return f"CAST({value!r} AS DOUBLE)"


def _rank(p: float) -> str:
    return f"greatest(1, CAST(ceil({_double(p)} * CAST(n AS DOUBLE)) AS BIGINT))"


def training_sql(table: str, profile: str, behavior: str, start: float, end: float, floor: float = COUNT_SPREAD) -> str:
    """Statistics per level (``COLUMNS``) of the windows of ``profile``/``behavior`` starting in ``[start, end)``;
    ``floor``: the spread's floor the trimming uses (``evaluation.learned.min_spread_of``). The profile's first
    window and its things come on every row, and on a row of their own (level NULL) when the behavior has no
    window: a quiet cloud-side count (no authorization failure in 14 days) still trains, as all zeros."""
    if not _TABLE.match(table):
        raise ValueError(f"table '{table}' must be [database.]name of letters, digits and underscores")
    for argument, name in (("profile", profile), ("behavior", behavior)):
        if not _NAME.match(name):
            raise ValueError(f"{argument} '{name}' must be 1 to 128 characters of [a-zA-Z0-9:_-]")
    span = f"dt >= '{{first}}' AND dt <= '{{last}}' AND window_start >= {int(start)} AND window_start < {int(end)}"
    first_day, last_day = (datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d") for t in (start, end + 86_400))
    span = span.format(first=first_day, last=last_day)
    high, medium, low = (_rank(p) for p in QUANTILES)
    spread = f"greatest({_double(MAD_TO_SPREAD)} * d.mad, {_double(floor)})"
    return f"""
WITH windows AS (
  SELECT thing_name, window_start, max(value) AS value FROM {table}
  WHERE profile = '{profile}' AND behavior = '{behavior}' AND {span}
  GROUP BY thing_name, window_start
), slotted AS (
  SELECT window_start, value,
    CAST(floor(CAST(window_start % 86400 AS DOUBLE) / 3600) AS BIGINT)
      + CASE WHEN (CAST(floor(CAST(window_start AS DOUBLE) / 86400) AS BIGINT) + 3) % 7 >= 5 THEN 24 ELSE 0 END
      AS slot
  FROM windows
), keyed AS (
  SELECT 'slot' AS level, slot AS key, window_start, value FROM slotted
  UNION ALL SELECT 'hour' AS level, slot % 24 AS key, window_start, value FROM slotted
  UNION ALL SELECT 'all' AS level, 0 AS key, window_start, value FROM slotted
), ranked AS (
  SELECT level, key, value, row_number() OVER (PARTITION BY level, key ORDER BY value) AS rn,
    count(*) OVER (PARTITION BY level, key) AS n
  FROM keyed
), medians AS (
  SELECT level, key, max(n) AS n, max(CASE WHEN rn = {_rank(0.5)} THEN value END) AS median
  FROM ranked GROUP BY level, key
), deviations AS (
  SELECT k.level, k.key, m.n, abs(k.value - m.median) AS deviation,
    row_number() OVER (PARTITION BY k.level, k.key ORDER BY abs(k.value - m.median)) AS rn
  FROM keyed k JOIN medians m ON k.level = m.level AND k.key = m.key
), mads AS (
  SELECT level, key, max(CASE WHEN rn = {_rank(0.5)} THEN deviation END) AS mad FROM deviations GROUP BY level, key
), kept AS (
  SELECT k.level, k.key, k.value,
    row_number() OVER (PARTITION BY k.level, k.key ORDER BY k.value) AS rn,
    count(*) OVER (PARTITION BY k.level, k.key) AS n
  FROM keyed k JOIN medians m ON k.level = m.level AND k.key = m.key
    JOIN mads d ON k.level = d.level AND k.key = d.key
  WHERE k.value <= m.median + {_double(TRIM_SPREADS)} * {spread}
), quantiles AS (
  SELECT level, key, max(CASE WHEN rn = {high} THEN value END) AS q_high,
    max(CASE WHEN rn = {medium} THEN value END) AS q_medium, max(CASE WHEN rn = {low} THEN value END) AS q_low
  FROM kept GROUP BY level, key
)
SELECT s.level, s.key, s.windows, s.median, s.mad, s.q_high, s.q_medium, s.q_low, p.earliest, p.things
FROM (
  SELECT min(window_start) AS earliest, count(DISTINCT thing_name) AS things FROM {table}
  WHERE profile = '{profile}' AND {span}
) p LEFT JOIN (
  SELECT m.level, m.key, m.n AS windows, m.median, d.mad, q.q_high, q.q_medium, q.q_low
  FROM medians m JOIN mads d ON m.level = d.level AND m.key = d.key
    JOIN quantiles q ON m.level = q.level AND m.key = q.key
) s ON TRUE
ORDER BY s.level, s.key
""".strip()


def stats_of_rows(rows: Iterable[Sequence[Any]], floor: float = COUNT_SPREAD) -> TrainingData:
    """Rows of ``COLUMNS`` (text from Athena, or numbers from DuckDB) -> the behavior's training data."""
    stats: dict[Level, SlotStats] = {}
    earliest: float | None = None
    things = 0
    try:
        for row in rows:
            level, key, windows, median, mad, q_high, q_medium, q_low, first, things_seen = row
            earliest = None if first is None else float(first)
            things = int(things_seen or 0)
            if level is None:
                continue  # the behavior had no window: only the profile's span and things
            stats[(str(level), int(key))] = SlotStats(
                int(windows), float(median), float(mad), (float(q_high), float(q_medium), float(q_low)), floor
            )
    except (TypeError, ValueError) as error:
        raise HistoryQueryError(f"a statistics row is not of the columns {', '.join(COLUMNS)}: {error}") from error
    total = stats[("all", 0)].windows if ("all", 0) in stats else 0
    return TrainingData(stats, total, earliest, things)


class AthenaHistory:
    """Runs ``training_sql`` in the history's Athena workgroup and reads the statistics back."""

    def __init__(
        self,
        workgroup: str,
        database: str,
        table: str,
        *,
        poll_seconds: float = 2.0,
        timeout_seconds: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
        time_left: Callable[[], float] | None = None,
        athena: Any | None = None,
    ) -> None:
        """``time_left``: seconds left in the caller's run; a query still running with less than
        ``STOP_MARGIN_SECONDS`` left is stopped (``StopQueryExecution``) and reported as failed."""
        self._athena = athena or client("athena")
        self._workgroup, self._database, self._table = workgroup, database, table
        self._poll, self._timeout, self._sleep = poll_seconds, timeout_seconds, sleep
        self._time_left = time_left

    def statistics(self, profile: str, behavior: str, start: float, end: float, floor: float) -> TrainingData:
        query = training_sql(self._table, profile, behavior, start, end, floor)
        execution = self._athena.start_query_execution(
            QueryString=query, WorkGroup=self._workgroup, QueryExecutionContext={"Database": self._database}
        )["QueryExecutionId"]
        self._wait(execution)
        return stats_of_rows(self._rows(execution), floor)

    def _wait(self, execution: str) -> None:
        waited = 0.0
        while True:
            status = self._athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]["Status"]
            if status["State"] == "SUCCEEDED":
                return
            if status["State"] in _DONE:
                reason = status.get("StateChangeReason", "no reason given")
                raise HistoryQueryError(f"Athena query {execution} {status['State']}: {reason}")
            out_of_time = self._time_left is not None and self._time_left() < STOP_MARGIN_SECONDS
            if waited >= self._timeout or out_of_time:
                self._athena.stop_query_execution(QueryExecutionId=execution)
                why = "the run is ending" if out_of_time else f"{waited:.0f} s"
                raise HistoryQueryError(f"Athena query {execution} still {status['State']} after {why}: stopped")
            self._sleep(self._poll)
            waited += self._poll

    def _rows(self, execution: str) -> list[list[str | None]]:
        rows: list[list[str | None]] = []
        for page in self._athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution):
            rows += [[cell.get("VarCharValue") for cell in row["Data"]] for row in page["ResultSet"]["Rows"]]
        if not rows or rows[0] != list(COLUMNS):
            raise HistoryQueryError(f"Athena query {execution} returned the header {rows[:1]}, not {list(COLUMNS)}")
        return rows[1:]
