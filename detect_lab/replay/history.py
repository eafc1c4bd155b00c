"""The window history as the lab reads it: local Parquet files (the Firehose output, or the lab's own
``write_history``) through DuckDB, checked against ``model.window_history.HISTORY_COLUMNS``, and
counted once per ``KEY_COLUMNS`` (delivery is at least once)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from detect_lab.replay.memory import CollectingHistory
from iot_defender_runtime.model.window_history import HISTORY_COLUMNS, KEY_COLUMNS, partition_day

# DuckDB's names for the Glue types of the history's columns (Parquet INT64, DOUBLE, BYTE_ARRAY UTF8).
_DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE"}
_ACCEPTED = {"BIGINT": {"BIGINT", "INTEGER"}, "DOUBLE": {"DOUBLE", "FLOAT"}, "VARCHAR": {"VARCHAR"}}


class HistoryError(ValueError):
    """A history file the lab cannot read; the message names the argument and what is expected."""


@dataclass(frozen=True)
class Windows:
    """Closed windows as columns (numpy arrays of equal length), one row per window and key."""

    thing: np.ndarray
    profile: np.ndarray
    behavior: np.ndarray
    metric: np.ndarray
    start: np.ndarray  # int64 epoch seconds
    end: np.ndarray
    value: np.ndarray  # float64
    verdict: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    @classmethod
    def of(cls, columns: Mapping[str, Any]) -> Windows:
        """From columns named as the history's (``CollectingHistory.columns()``), deduplicated per key."""
        windows = cls(
            np.asarray(columns["thing_name"], dtype=object),
            np.asarray(columns["profile"], dtype=object),
            np.asarray(columns["behavior"], dtype=object),
            np.asarray(columns["metric"], dtype=object),
            np.asarray(columns["window_start"], dtype=np.int64),
            np.asarray(columns["window_end"], dtype=np.int64),
            np.asarray(columns["value"], dtype=np.float64),
            np.asarray(columns["verdict"], dtype=object),
        )
        return windows.unique()

    @classmethod
    def from_history(cls, history: CollectingHistory) -> Windows:
        return cls.of(history.columns())

    def columns(self) -> dict[str, list[Any]]:
        """The rows as columns named as the history's."""
        return {
            "thing_name": list(self.thing),
            "profile": list(self.profile),
            "behavior": list(self.behavior),
            "metric": list(self.metric),
            "window_start": self.start.tolist(),
            "window_end": self.end.tolist(),
            "value": self.value.tolist(),
            "verdict": list(self.verdict),
        }

    def take(self, index: np.ndarray) -> Windows:
        return Windows(*(getattr(self, name)[index] for name in _FIELDS))

    def unique(self) -> Windows:
        """One row per (profile, behavior, thing, window start): a window delivered twice (a retried
        batch) counts once, with its largest value (as ``detect_lab.sql`` reads it)."""
        keys: dict[tuple[Any, ...], int] = {}
        for i, key in enumerate(zip(self.profile, self.behavior, self.thing, self.start.tolist(), strict=True)):
            kept = keys.setdefault(key, i)
            if self.value[i] > self.value[kept]:
                keys[key] = i
        if len(keys) == len(self):
            return self
        return self.take(np.fromiter(sorted(keys.values()), dtype=np.int64, count=len(keys)))


_FIELDS = ("thing", "profile", "behavior", "metric", "start", "end", "value", "verdict")


def read_history(paths: str | Path | Sequence[str | Path]) -> Windows:
    """The windows of Parquet files (a file, a directory read recursively, or a list of them).

    :raises HistoryError: for a missing file, or a file whose columns or types are not the history's
        (naming the file, the column and what is expected).
    """
    import duckdb

    files = _files(paths)
    connection = duckdb.connect()
    for file in files:
        _check_schema(connection, file)
    names = ", ".join(name for name, _ in HISTORY_COLUMNS)
    rows = connection.execute(
        f"SELECT {names} FROM read_parquet(?, union_by_name = false) ORDER BY {', '.join(KEY_COLUMNS)}",
        [[str(f) for f in files]],
    ).fetchnumpy()
    return Windows.of(rows)


def _files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    given = [paths] if isinstance(paths, str | Path) else list(paths)
    files: list[Path] = []
    for item in given:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.parquet") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise HistoryError(f"history {str(item)!r} is neither a Parquet file nor a directory of them")
    if not files:
        raise HistoryError(f"history {', '.join(str(p) for p in given)!r} holds no .parquet file")
    return files


def _check_schema(connection: Any, file: Path) -> None:
    expected = ", ".join(f"{name} {kind}" for name, kind in HISTORY_COLUMNS)
    try:
        found = connection.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(file)]).fetchall()
    except Exception as error:  # duckdb raises its own error types for a file that is not Parquet
        raise HistoryError(f"history file {str(file)!r} is not a Parquet file ({error})") from error
    columns = {row[0]: row[1] for row in found}
    for name, kind in HISTORY_COLUMNS:
        wanted = _DUCKDB_TYPES[kind]
        if name not in columns:
            raise HistoryError(f"history file {str(file)!r} has no column {name!r}; expected {expected}")
        if columns[name] not in _ACCEPTED[wanted]:
            raise HistoryError(
                f"history file {str(file)!r}: column {name!r} is {columns[name]}, expected {kind} ({wanted}); "
                f"expected {expected}"
            )


def write_history(windows: CollectingHistory | Windows, directory: str | Path) -> list[Path]:
    """Write windows in the history's Parquet layout, one file per ``dt=<day of window_end>`` partition
    (what Firehose writes): the lab's own history, or a test's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = windows.columns()
    types = {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64()}
    schema = pa.schema([(name, types[kind]) for name, kind in HISTORY_COLUMNS])
    table = pa.table({name: columns[name] for name, _ in HISTORY_COLUMNS}, schema=schema)
    days = np.array([partition_day(end) for end in columns["window_end"]], dtype=object)
    written = []
    for day in sorted(set(days)):
        folder = Path(directory) / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "windows.parquet"
        pq.write_table(table.filter(pa.array(days == day)), path)
        written.append(path)
    return written
