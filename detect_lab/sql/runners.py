"""Running the tuning query: DuckDB over local Parquet files, or Athena over the history table through
boto3 (``StartQueryExecution`` in the history's workgroup, ``GetQueryExecution`` until it ends,
``GetQueryResults`` page by page; Athena API reference)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from detect_lab.sql.tuning import Attack, Dialect, SqlTuningError, tuning_sql
from iot_defender_runtime.model.detect_profiles import DetectProfiles

_DONE = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


def parquet_source(paths: str | Path | Sequence[str | Path]) -> str:
    """``read_parquet([...], hive_partitioning = true)`` over files or directories (their ``*.parquet``,
    recursively), the ``dt=`` folders read as the partition column."""
    given = [paths] if isinstance(paths, str | Path) else list(paths)
    globs = [str(Path(p) / "**" / "*.parquet") if Path(p).is_dir() else str(p) for p in given]
    quoted = ", ".join("'" + g.replace("'", "''") + "'" for g in globs)
    return f"read_parquet([{quoted}], hive_partitioning = true)"


def run_duckdb(
    paths: str | Path | Sequence[str | Path],
    profiles: DetectProfiles,
    *,
    target_false_alarms: float,
    attacks: Sequence[Attack] = (),
    headroom: float = 1.25,
) -> list[dict[str, Any]]:
    """The tuning query's rows (``detect_lab.sql.tuning.COLUMNS``) over local history files, with DuckDB."""
    import duckdb

    sql = tuning_sql(
        parquet_source(paths),
        profiles,
        target_false_alarms=target_false_alarms,
        dialect=Dialect.DUCKDB,
        attacks=attacks,
        headroom=headroom,
    )
    cursor = duckdb.connect().execute(sql)
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def run_athena(
    athena: Any,
    sql: str,
    *,
    workgroup: str,
    database: str,
    poll_seconds: float = 1.0,
    timeout_seconds: float = 900.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Run ``sql`` in ``workgroup`` (whose settings say where results go and encrypt them) and return its
    rows, typed by the result set's column types.

    :raises SqlTuningError: when the query fails or is cancelled (with Athena's reason), or has not ended
        after ``timeout_seconds``.
    """
    started = athena.start_query_execution(
        QueryString=sql, WorkGroup=workgroup, QueryExecutionContext={"Database": database}
    )
    query_id = started["QueryExecutionId"]
    waited = 0.0
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] in _DONE:
            break
        if waited >= timeout_seconds:
            raise SqlTuningError(f"Athena query {query_id} has not ended after {timeout_seconds:g} s")
        sleep(poll_seconds)
        waited += poll_seconds
    if status["State"] != "SUCCEEDED":
        reason = status.get("StateChangeReason", "no reason given")
        raise SqlTuningError(f"Athena query {query_id} {status['State'].lower()}: {reason}")
    return _results(athena, query_id)


def _results(athena: Any, query_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    token: str | None = None
    first_page = True
    while True:
        page = athena.get_query_results(QueryExecutionId=query_id, **({"NextToken": token} if token else {}))
        columns = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
        data = page["ResultSet"]["Rows"][1:] if first_page else page["ResultSet"]["Rows"]  # the header row
        for row in data:
            values = [cell.get("VarCharValue") for cell in row["Data"]]
            rows.append({c["Name"]: _typed(c["Type"], v) for c, v in zip(columns, values, strict=True)})
        first_page = False
        token = page.get("NextToken")
        if not token:
            return rows


def _typed(kind: str, value: str | None) -> Any:
    """Athena returns every value as text; its column type says what it is."""
    if value is None:
        return None
    if kind in ("bigint", "integer", "smallint", "tinyint"):
        return int(value)
    if kind in ("double", "float", "real", "decimal"):
        return float(value)
    if kind == "boolean":
        return value == "true"
    return value
