"""The trainer's Athena SQL, run by DuckDB over Parquet of the history schema, gives exactly the
statistics (so the model) the Python trainer computes from the same windows: duplicates, other
behaviors, windows outside the span and an attack included."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from iot_defender_runtime.adapters.history_query import COLUMNS, stats_of_rows, training_sql
from iot_defender_runtime.evaluation.learned import COUNT_SPREAD, STATE_SPREAD, aggregate, bands_from
from iot_defender_runtime.model.learned_model import DAY
from iot_defender_runtime.model.window_history import HISTORY_COLUMNS, history_row, partition_day

START = 1_793_577_600.0  # Monday 2026-11-02 00:00 UTC
END = START + 14 * DAY


def _rows(seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows = []
    for thing in range(12):
        for step in range(-20, int(14 * DAY / 300) + 20, 7):  # some windows before and after the span
            start = START + step * 300
            value = float(rng.choice([0, 1, 2, 3, 5, 8, 40]) + rng.random() * (thing % 3))
            row = history_row(
                profile="fleet",
                behavior="storm",
                metric="aws:num-messages-sent",
                thing_name=f"t{thing}",
                start=start,
                end=start + 300,
                value=value,
                verdict="unjudged",
            )
            rows.append(row)
            if step % 11 == 0:
                rows.append(dict(row))  # delivered twice
            if step % 5 == 0:
                rows.append({**row, "behavior": "other", "value": 1e6})
    rows.append({**rows[500], "thing_name": "attacker", "value": 9e5})
    return rows


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    rows = _rows(seed=13)
    schema = pa.schema(
        [
            (name, pa.string() if kind == "string" else pa.int64() if kind == "bigint" else pa.float64())
            for name, kind in HISTORY_COLUMNS
        ]
    )
    root = tmp_path_factory.mktemp("history")
    by_day: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_day.setdefault(partition_day(float(row["window_end"])), []).append(row)  # type: ignore[arg-type]
    for day, day_rows in by_day.items():
        (root / f"dt={day}").mkdir()
        pq.write_table(pa.Table.from_pylist(day_rows, schema=schema), root / f"dt={day}" / "part-0.parquet")
    return root, rows


@pytest.mark.parametrize("floor", [COUNT_SPREAD, STATE_SPREAD])
def test_sql_on_duckdb_gives_the_python_trainers_statistics(
    history: tuple[Path, list[dict[str, object]]], floor: float
) -> None:
    root, rows = history
    connection = duckdb.connect()
    connection.execute(
        f"CREATE VIEW history AS SELECT * FROM read_parquet('{root}/*/*.parquet', hive_partitioning = true)"
    )
    result = connection.execute(training_sql("history", "fleet", "storm", START, END, floor))
    assert [column[0] for column in result.description] == list(COLUMNS)
    data = stats_of_rows(result.fetchall(), floor)
    sql_stats, sql_count, earliest = data.stats, data.windows, data.earliest

    windows = [
        (str(r["thing_name"]), float(r["window_start"]), float(r["value"]))  # type: ignore[arg-type]
        for r in rows
        if r["behavior"] == "storm" and START <= float(r["window_start"]) < END  # type: ignore[arg-type]
    ]
    python_stats, python_count = aggregate(windows, floor)
    profile_starts = [float(r["window_start"]) for r in rows if START <= float(r["window_start"]) < END]  # type: ignore[arg-type]
    assert sql_count == python_count and earliest == min(profile_starts)  # the profile's first window
    things = {r["thing_name"] for r in rows if START <= float(r["window_start"]) < END}  # type: ignore[arg-type]
    assert data.things == len(things) == 13  # the profile's things, of any behavior (the attacker included)
    assert sql_stats == python_stats
    assert bands_from(sql_stats) == bands_from(python_stats)


@pytest.mark.parametrize(
    ("table", "profile", "behavior", "message"),
    [
        ("history; DROP TABLE x", "p", "b", "table 'history; DROP TABLE x' must be"),
        ("history", "p' OR '1'='1", "b", "profile \"p' OR '1'='1\" must be"),
        ("history", "p", "", "behavior '' must be"),
    ],
)
def test_fails_when_a_name_could_change_the_query(table: str, profile: str, behavior: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        training_sql(table, profile, behavior, START, END)
    assert message.replace('"', "'") in str(error.value).replace('"', "'")


def test_a_behavior_with_no_window_still_reads_the_profiles_span_and_things(
    history: tuple[Path, list[dict[str, object]]],
) -> None:
    """A quiet cloud-side count (no authorization failure in 14 days) has no history row: the query still
    returns the profile's first window and things, so the trainer builds its all-zeros model."""
    root, rows = history
    connection = duckdb.connect()
    connection.execute(
        f"CREATE VIEW history AS SELECT * FROM read_parquet('{root}/*/*.parquet', hive_partitioning = true)"
    )
    result = connection.execute(training_sql("history", "fleet", "quiet", START, END, COUNT_SPREAD)).fetchall()
    data = stats_of_rows(result, COUNT_SPREAD)
    profile_starts = [float(r["window_start"]) for r in rows if START <= float(r["window_start"]) < END]  # type: ignore[arg-type]
    assert data.stats == {} and data.windows == 0
    assert data.earliest == min(profile_starts) and data.things == 13
