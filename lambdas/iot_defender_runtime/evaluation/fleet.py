"""Fleet percentiles for statistical behaviors, from the closed windows of every thing's state.

Device Defender: "Metrics are collected over the specified period (durationSeconds) from all
reporting devices in your account and statistical ranks are calculated." Here the reporting devices
are the things whose state holds a closed window with that start; the percentile is nearest-rank
(``criteria.percentile``). A window counts once it has settled: ``settle_seconds`` after its end,
so that datapoints still in flight have arrived. Pure: no I/O, no clock.

At fleet scale no single run sees every thing: each sweep segment folds the windows it scanned into
a ``WindowSketch`` per window start, and whoever needs the thresholds merges the segments' sketches
(``merge_parts``, ``thresholds_of``). A sketch is exact (value -> count) while it holds at most
``MAX_EXACT_VALUES`` distinct values, which is the usual case for counts (messages, connects,
failures per window): the merged percentile is then the exact one. Past that it turns into a
log-bucket histogram with relative accuracy ``RELATIVE_ACCURACY`` (the DDSketch construction,
Masson, Rim and Lee, VLDB 2019): the percentile it returns is within 1 % of the exact nearest-rank
value (``|estimate - exact| <= 0.01 * |exact|``), whatever the number of things, in at most
about 1,400 buckets per window for values from 1e-3 to 1e12.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iot_defender_runtime.evaluation.criteria import percentile
from iot_defender_runtime.evaluation.engine import RECENT_WINDOWS

MAX_EXACT_VALUES = 1024
RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)


def fleet_thresholds(
    closed_windows: Iterable[tuple[float, float]],
    statistic: str,
    *,
    duration_seconds: float,
    now: float,
    settle_seconds: float,
    keep: int = RECENT_WINDOWS,
) -> dict[float, tuple[float, int]]:
    """Window start -> (percentile, number of things) for the ``keep`` latest settled windows, exactly."""
    values: dict[float, list[float]] = defaultdict(list)
    for start, aggregate in closed_windows:
        if start + duration_seconds + settle_seconds <= now:
            values[start].append(aggregate)
    return {start: (percentile(values[start], statistic), len(values[start])) for start in sorted(values)[-keep:]}


def rank_index(count: int, statistic: str) -> int:
    """The 0-based nearest-rank index of ``statistic`` (``p90``) among ``count`` ordered values, as
    ``criteria.percentile`` takes it."""
    rank = float(statistic.removeprefix("p")) / 100
    return max(0, min(count - 1, int(-(-rank * count // 1)) - 1))


def _bucket(value: float) -> int:
    """The log bucket of a non-zero value: its magnitude lies in (gamma**(i-1), gamma**i]."""
    return math.ceil(math.log(abs(value)) / _LOG_GAMMA)


def _representative(bucket: int, sign: int) -> float:
    """The value whose relative distance to every magnitude of the bucket is at most the accuracy."""
    return sign * 2 * _GAMMA**bucket / (_GAMMA + 1)


@dataclass
class WindowSketch:
    """The aggregates of one window over part of the fleet: exact counts of each value while there are
    few distinct values, else log buckets (``buckets``: sign -> bucket -> count; zeros kept exactly)."""

    exact: dict[float, int] | None = field(default_factory=dict)
    buckets: dict[int, dict[int, int]] = field(default_factory=dict)
    zeros: int = 0

    @property
    def count(self) -> int:
        if self.exact is not None:
            return sum(self.exact.values())
        return self.zeros + sum(sum(side.values()) for side in self.buckets.values())

    def add(self, value: float, times: int = 1) -> None:
        if self.exact is not None:
            self.exact[value] = self.exact.get(value, 0) + times
            if len(self.exact) > MAX_EXACT_VALUES:
                self._to_buckets()
            return
        if value == 0:
            self.zeros += times
            return
        side = self.buckets.setdefault(1 if value > 0 else -1, {})
        index = _bucket(value)
        side[index] = side.get(index, 0) + times

    def merge(self, other: WindowSketch) -> None:
        """Fold ``other`` in: exact stays exact only when both are and the union stays small."""
        if other.exact is not None:
            for value, times in other.exact.items():
                self.add(value, times)
            return
        if self.exact is not None:
            self._to_buckets()
        self.zeros += other.zeros
        for sign, side in other.buckets.items():
            mine = self.buckets.setdefault(sign, {})
            for index, times in side.items():
                mine[index] = mine.get(index, 0) + times

    def percentile(self, statistic: str) -> float:
        """The nearest-rank percentile: exact, or within ``RELATIVE_ACCURACY`` of it once bucketed."""
        count = self.count
        if not count:
            raise ValueError("no fleet values to take a percentile of")
        wanted = rank_index(count, statistic)
        seen = 0
        for value, times in self._ordered():
            seen += times
            if seen > wanted:
                return value
        raise AssertionError("the counts add up to the rank")  # pragma: no cover

    def _ordered(self) -> list[tuple[float, int]]:
        """(value, count) from the smallest value up."""
        if self.exact is not None:
            return sorted(self.exact.items())
        negative = [(_representative(i, -1), n) for i, n in sorted(self.buckets.get(-1, {}).items(), reverse=True)]
        positive = [(_representative(i, 1), n) for i, n in sorted(self.buckets.get(1, {}).items())]
        return [*negative, *([(0.0, self.zeros)] if self.zeros else []), *positive]

    def _to_buckets(self) -> None:
        exact, self.exact = self.exact or {}, None
        for value, times in exact.items():
            self.add(value, times)

    def to_document(self) -> dict[str, Any]:
        """JSON-ready: ``{"e": [[value, count], ...]}`` or ``{"z": zeros, "p": {...}, "n": {...}}``."""
        if self.exact is not None:
            return {"e": [[value, times] for value, times in sorted(self.exact.items())]}
        return {
            "z": self.zeros,
            "p": {str(i): n for i, n in sorted(self.buckets.get(1, {}).items())},
            "n": {str(i): n for i, n in sorted(self.buckets.get(-1, {}).items())},
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> WindowSketch:
        if "e" in document:
            return cls(exact={float(value): int(times) for value, times in document["e"]})
        buckets = {
            sign: {int(i): int(n) for i, n in document.get(key, {}).items()}
            for sign, key in ((1, "p"), (-1, "n"))
            if document.get(key)
        }
        return cls(exact=None, buckets=buckets, zeros=int(document.get("z", 0)))


FleetPart = dict[float, WindowSketch]  # window start -> the sketch of the things one segment scanned


def sketch_windows(closed_windows: Iterable[tuple[float, float]]) -> FleetPart:
    """A part: closed windows (window start, aggregate) folded into one sketch per window start."""
    part: FleetPart = {}
    for start, aggregate in closed_windows:
        part.setdefault(start, WindowSketch()).add(aggregate)
    return part


def latest(part: FleetPart, keep: int) -> FleetPart:
    """The ``keep`` latest window starts of a part (a thing silent for a while still holds old windows)."""
    return {start: part[start] for start in sorted(part)[-keep:]}


def merge_parts(parts: Iterable[FleetPart]) -> FleetPart:
    """The fleet's sketch of each window start: every part that holds that start, merged. A part left
    by a segment that failed this sweep still holds the windows it saw last time, and contributes them."""
    merged: FleetPart = {}
    for part in parts:
        for start, sketch in part.items():
            merged.setdefault(start, WindowSketch()).merge(sketch)
    return merged


def thresholds_of(
    fleet: FleetPart,
    statistic: str,
    *,
    duration_seconds: float,
    now: float,
    settle_seconds: float,
    keep: int = RECENT_WINDOWS,
) -> dict[float, tuple[float, int]]:
    """As ``fleet_thresholds``, from merged sketches: window start -> (percentile, number of things)."""
    settled = sorted(s for s, sketch in fleet.items() if s + duration_seconds + settle_seconds <= now and sketch.count)
    return {start: (fleet[start].percentile(statistic), fleet[start].count) for start in settled[-keep:]}


def part_to_document(part: FleetPart) -> dict[str, Any]:
    return {repr(start): sketch.to_document() for start, sketch in sorted(part.items())}


def part_from_document(document: Mapping[str, Any]) -> FleetPart:
    return {float(start): WindowSketch.from_document(sketch) for start, sketch in document.items()}
