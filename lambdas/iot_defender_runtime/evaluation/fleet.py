"""Fleet percentiles for statistical behaviors, from the closed windows of every thing's state.

Device Defender: "Metrics are collected over the specified period (durationSeconds) from all
reporting devices in your account and statistical ranks are calculated." Here the reporting devices
are the things whose state holds a closed window with that start; the percentile is nearest-rank
(``criteria.percentile``). A window counts once it has settled: ``settle_seconds`` after its end,
so that datapoints still in flight have arrived. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from iot_defender_runtime.evaluation.criteria import percentile
from iot_defender_runtime.evaluation.engine import RECENT_WINDOWS


def fleet_thresholds(
    closed_windows: Iterable[tuple[float, float]],
    statistic: str,
    *,
    duration_seconds: float,
    now: float,
    settle_seconds: float,
    keep: int = RECENT_WINDOWS,
) -> dict[float, tuple[float, int]]:
    """Window start -> (percentile, number of things) for the ``keep`` latest settled windows."""
    values: dict[float, list[float]] = defaultdict(list)
    for start, aggregate in closed_windows:
        if start + duration_seconds + settle_seconds <= now:
            values[start].append(aggregate)
    return {start: (percentile(values[start], statistic), len(values[start])) for start in sorted(values)[-keep:]}
