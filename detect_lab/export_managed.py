"""``export-managed``: managed Detect's metric values as window history, so that an account that still
has managed Detect can replay and tune its own fleet's data with this lab before it moves to
self-hosted Detect.

For each thing and each distinct metric (and dimension) of the profile's behaviors, ``ListMetricValues``
(https://docs.aws.amazon.com/iot/latest/apireference/API_ListMetricValues.html; paginated, at most
250 values a page) gives the values the thing reported in the time range. They become rows of the
history schema (``iot_defender_runtime/model/window_history.py``), verdict ``unjudged``:

- a behavior with ``durationSeconds`` (a count over a window): the values summed per window of that
  length aligned to the epoch, as the self-hosted evaluator sums datapoints (``evaluation/engine.py``);
- a behavior without (judged per datapoint): one row per value, ``window_start = window_end`` = its time;
- a list value (ports, CIDRs, strings, numbers) counts as the number of its items.

Files: ``<out_dir>/dt=<UTC day of window_end>/managed-<profile>.parquet``, the layout Firehose writes
and the lab reads. Exporting the same profile again replaces those files' days.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from iot_defender_runtime.model.behavior_definition import BehaviorDefinition
from iot_defender_runtime.model.window_history import (
    HISTORY_COLUMNS,
    KEY_COLUMNS,
    UNJUDGED,
    history_row,
    partition_day,
)

PAGE_SIZE = 250  # ListMetricValues maxResults, at most
_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")  # thing, profile and behavior names (the iot model's patterns)


class ExportError(ValueError):
    """An argument of ``export_managed`` is wrong; the message names it, the value and what is allowed."""


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: rows, the Parquet files (one per day), and the ``ListMetricValues`` pages read."""

    rows: int
    files: tuple[Path, ...]
    pages: int


def export_managed(
    iot_client: Any,
    things: Sequence[str],
    profile: str,
    behaviors: Sequence[BehaviorDefinition | Mapping[str, Any]],
    start: datetime,
    end: datetime,
    out_dir: str | Path,
) -> ExportSummary:
    """Export ``ListMetricValues`` of ``things`` for the metrics of ``profile``'s ``behaviors`` between
    ``start`` and ``end`` into window history Parquet files under ``out_dir``.

    :param iot_client: a boto3 ``iot`` client (its credentials and region are the account's).
    :param things: thing names, at least one.
    :param profile: the security profile's name; the rows' ``profile``.
    :param behaviors: the profile's behaviors, as ``BehaviorDefinition`` or as the API's ``Behavior``
        (``describe_behaviors`` reads them from ``DescribeSecurityProfile``).
    :param start: timezone-aware; managed Detect keeps metric values for 14 days.
    :param end: timezone-aware, after ``start``.
    :raises ExportError: for a bad argument (every problem, at once), before any AWS call.
    :raises botocore.exceptions.ClientError: when an AWS call fails (the service's message).
    """
    definitions = _arguments(things, profile, behaviors, start, end)
    by_series: dict[tuple[str, str | None, str | None], list[BehaviorDefinition]] = defaultdict(list)
    for definition in definitions:
        dimension = definition.dimension
        key = (definition.metric, dimension.name if dimension else None, dimension.operator if dimension else None)
        by_series[key].append(definition)
    rows: list[dict[str, Any]] = []
    pages = 0
    for thing in things:
        for (metric, dimension, operator), judged_by in by_series.items():
            request = _request(thing, metric, dimension, operator, start, end)
            datapoints: list[tuple[float, float]] = []
            for page in iot_client.get_paginator("list_metric_values").paginate(
                **request, PaginationConfig={"PageSize": PAGE_SIZE}
            ):
                pages += 1
                datapoints += [(d["timestamp"].timestamp(), value_of(d["value"])) for d in page["metricDatumList"]]
            for definition in judged_by:
                rows.extend(_rows(profile, definition, thing, datapoints))
    files = write_days(rows, Path(out_dir), f"managed-{profile}.parquet")
    return ExportSummary(len(rows), tuple(files), pages)


def describe_behaviors(iot_client: Any, profile: str) -> list[BehaviorDefinition]:
    """The behaviors of a managed security profile (``DescribeSecurityProfile``)."""
    described = iot_client.describe_security_profile(securityProfileName=profile)
    return [BehaviorDefinition.from_api(behavior) for behavior in described.get("behaviors", [])]


def value_of(value: Mapping[str, Any]) -> float:
    """A ``MetricValue`` as the history's number: ``count`` or ``number``; a list, its number of items."""
    for scalar in ("count", "number"):
        if scalar in value:
            return float(value[scalar])
    for listed in ("ports", "cidrs", "strings", "numbers"):
        if listed in value:
            return float(len(value[listed]))
    return 0.0


def write_days(rows: Sequence[Mapping[str, Any]], out_dir: Path, file_name: str) -> list[Path]:
    """``rows`` (of ``HISTORY_COLUMNS``) as one Parquet file per ``dt=<day of window_end>`` folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types: dict[str, pa.DataType] = {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64()}
    schema = pa.schema([(name, types[kind]) for name, kind in HISTORY_COLUMNS])
    days: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        days[partition_day(row["window_end"])].append(row)
    written = []
    for day, day_rows in sorted(days.items()):
        folder = out_dir / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        ordered = sorted(day_rows, key=lambda row: tuple(row[key] for key in KEY_COLUMNS))
        table = pa.Table.from_pylist(list(ordered), schema=schema)
        pq.write_table(table, folder / file_name)
        written.append(folder / file_name)
    return written


def _rows(
    profile: str, definition: BehaviorDefinition, thing: str, datapoints: Sequence[tuple[float, float]]
) -> Iterator[dict[str, Any]]:
    common = {"profile": profile, "behavior": definition.name, "metric": definition.metric, "thing_name": thing}
    duration = definition.duration_seconds
    if not duration:
        for at, value in datapoints:
            yield history_row(**common, start=at, end=at, value=value, verdict=UNJUDGED)
        return
    totals: dict[int, float] = defaultdict(float)
    for at, value in datapoints:
        totals[math.floor(at / duration) * duration] += value
    for window in sorted(totals):
        yield history_row(**common, start=window, end=window + duration, value=totals[window], verdict=UNJUDGED)


def _request(
    thing: str, metric: str, dimension: str | None, operator: str | None, start: datetime, end: datetime
) -> dict[str, Any]:
    request: dict[str, Any] = {"thingName": thing, "metricName": metric, "startTime": start, "endTime": end}
    if dimension is not None:
        request["dimensionName"] = dimension
        request["dimensionValueOperator"] = operator or "IN"
    return request


def _arguments(
    things: Sequence[str],
    profile: str,
    behaviors: Sequence[BehaviorDefinition | Mapping[str, Any]],
    start: datetime,
    end: datetime,
) -> list[BehaviorDefinition]:
    """The behaviors as definitions, once every argument is checked; every problem in one ``ExportError``."""
    problems: list[str] = []
    if isinstance(things, str) or not things:
        problems.append(f"things {things!r} must be a list of at least one thing name")
    else:
        problems += [f"thing {t!r} must be 1 to 128 of [a-zA-Z0-9:_-]" for t in things if not _is_name(t)]
    if not _is_name(profile):
        problems.append(f"profile {profile!r} must be 1 to 128 of [a-zA-Z0-9:_-]")
    definitions = _definitions(behaviors, problems)
    aware = [name for name, at in (("start", start), ("end", end)) if not _is_aware(at)]
    problems += [f"{name} must be a timezone-aware datetime, e.g. datetime(2026, 9, 1, tzinfo=UTC)" for name in aware]
    if not aware and start >= end:
        problems.append(f"start {start.isoformat()} must be before end {end.isoformat()}")
    if problems:
        raise ExportError("; ".join(problems))
    return definitions


def _definitions(
    behaviors: Sequence[BehaviorDefinition | Mapping[str, Any]], problems: list[str]
) -> list[BehaviorDefinition]:
    if not behaviors:
        problems.append("behaviors is empty; give the profile's behaviors (describe_behaviors reads them)")
        return []
    definitions = []
    for behavior in behaviors:
        try:
            definition = behavior if isinstance(behavior, BehaviorDefinition) else BehaviorDefinition.from_api(behavior)
        except (KeyError, TypeError, AttributeError):
            problems.append(f"behavior {behavior!r} is not a Behavior of the IoT API (name, metric, criteria)")
            continue
        if not _is_name(definition.name):
            problems.append(f"behavior name {definition.name!r} must be 1 to 128 of [a-zA-Z0-9:_-]")
        definitions.append(definition)
    names = [d.name for d in definitions]
    problems += [
        f"behavior name '{n}' is given more than once" for n in sorted({n for n in names if names.count(n) > 1})
    ]
    return definitions


def _is_name(value: object) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def _is_aware(value: object) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() is not None
