"""Learned behaviors (ML Detect in self-hosted mode): training a model of normal from the window history,
and the rules that decide its status. Pure: windows and the previous model in, a model out.

The method, for one profile and one behavior, over the trailing 14 days of closed windows:

1. Each window goes to its time slot (``slot_of``: hour of day x weekday/weekend, UTC), so the model
   follows the daily cycle and the weekday/weekend difference the guide names as what ML Detect learns
   (https://docs.aws.amazon.com/iot-device-defender/latest/devguide/dd-detect-ml.html, "ML Detect use
   cases"). A slot with fewer than ``MIN_SLOT_WINDOWS`` windows borrows the statistics of its hour of day
   (weekday and weekend together), and failing that of all windows.
2. Per slot, robust statistics of the fleet's window values: the median and the median absolute
   deviation (MAD), whose spread ``1.4826 x MAD`` (the standard deviation of normal data) has a floor:
   one unit for a cloud-side count of events in a window (a count of n varies by about the square root
   of n, never less than one), a fifth of a unit for what a device reports of its state (listening
   ports, connections, bytes since the last report): in a slot where every report says the same (one
   listening port), the band ends less than one unit above it at every confidence level, so one more
   port is out of it.
3. Values more than ``TRIM_SPREADS`` spreads above the median are dropped: an attack in the training
   data (a storm, an exfiltration) sits far above the bulk of the fleet and would otherwise drag the
   band up to its own level.
4. The upper bound of normal at each confidence level is a high quantile of what remains plus a margin
   of spreads: HIGH = quantile 0.9999 + 4 spreads, MEDIUM = 0.999 + 2, LOW = 0.99 + 1. The margin covers
   a device busier than any the 14 days saw (a fleet of a few hundred has not shown its extremes). Higher
   confidence means lower sensitivity, as the guide defines the levels
   (``AWS::IoT::SecurityProfile MachineLearningDetectionConfig``: "The higher the confidence level, the
   lower the sensitivity, and the lower the alarm frequency will be").

Quantiles are nearest-rank (the value at rank ``ceil(p x n)`` of the sorted values), so the SQL the
trainer runs on Athena (``adapters.history_query``) gives the same numbers as this module.
A window is normal when its value is at most the bound of its slot; learned behaviors alarm on values
above normal (a storm, a probe, an exfiltration), not below.

Datapoints towards the guide's minimum of 25,000: the windows of the history; for a cloud-side count
(messages, authorization failures, connection attempts, disconnects), whose empty windows the evaluator
judges as 0 (AWS IoT sees every event), every 5-minute window of every thing the profile watched in the
14 days counts (an upper estimate: a thing counts from the span's start). The statistics of such a metric
come from the windows with activity only, which keeps its band on the high side of what the zeros give.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from iot_defender_runtime.model.learned_model import (
    ACTIVE,
    DAY,
    EXPIRED,
    EXPIRY_DAYS,
    MIN_DATAPOINTS,
    PENDING_BUILD,
    REASON_COLLECTING,
    REASON_GAVE_UP,
    REASON_STALE,
    RETRY_DAYS,
    SLOTS,
    TRAINING_DAYS,
    WINDOW_SECONDS,
    LearnedModel,
    slot_of,
)
from iot_defender_runtime.model.metric_catalog import MetricSource, MetricSpec, ValueKind

MAD_TO_SPREAD = 1.4826  # MAD x this = the standard deviation, for normally distributed values
COUNT_SPREAD = 1.0  # the floor of a cloud-side count's spread: one event
STATE_SPREAD = 0.2  # the floor of a device-reported value's spread: HIGH's 4 spreads stay below one unit
TRAINING_SLACK = 3600.0  # collection that began in the first hour of the 14 days counts as 14 days
TRIM_SPREADS = 12.0
QUANTILES = (0.9999, 0.999, 0.99)  # HIGH, MEDIUM, LOW
MARGINS = (4.0, 2.0, 1.0)  # spreads above the quantile: HIGH, MEDIUM, LOW
MIN_SLOT_WINDOWS = 200

SLOT, HOUR, ALL = "slot", "hour", "all"  # the levels statistics are pooled at
Level = tuple[str, int]  # (SLOT, 0-47) | (HOUR, 0-23) | (ALL, 0)


@dataclass(frozen=True)
class SlotStats:
    """The robust statistics of one slot (or pooled level): what the Athena query returns per row."""

    windows: int
    median: float
    mad: float
    quantiles: tuple[float, float, float]  # of the trimmed values, at QUANTILES
    floor: float = COUNT_SPREAD  # the spread's floor (``min_spread_of``)

    @property
    def spread(self) -> float:
        return max(MAD_TO_SPREAD * self.mad, self.floor)

    def band(self) -> tuple[float, float, float]:
        """The upper bounds of normal at HIGH, MEDIUM and LOW confidence."""
        high, medium, low = (q + k * self.spread for q, k in zip(self.quantiles, MARGINS, strict=True))
        return high, medium, low


def nearest_rank(ordered: list[float], p: float) -> float:
    """The value at rank ``ceil(p x n)`` (at least 1) of ``ordered`` (sorted, not empty)."""
    return ordered[max(1, math.ceil(p * len(ordered))) - 1]


def slot_stats(values: Iterable[float], floor: float = COUNT_SPREAD) -> SlotStats:
    """Median, MAD, and the QUANTILES of the values left after trimming the top tail."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no windows to take statistics of")
    median = nearest_rank(ordered, 0.5)
    mad = nearest_rank(sorted(abs(v - median) for v in ordered), 0.5)
    limit = median + TRIM_SPREADS * max(MAD_TO_SPREAD * mad, floor)
    kept = ordered[: _count_at_most(ordered, limit)]
    high, medium, low = (nearest_rank(kept, p) for p in QUANTILES)
    return SlotStats(len(ordered), median, mad, (high, medium, low), floor)


def _count_at_most(ordered: list[float], limit: float) -> int:
    low, high = 0, len(ordered)
    while low < high:
        middle = (low + high) // 2
        if ordered[middle] <= limit:
            low = middle + 1
        else:
            high = middle
    return low


def levels_of(window_start: float) -> tuple[Level, Level, Level]:
    slot = slot_of(window_start)
    return (SLOT, slot), (HOUR, slot % 24), (ALL, 0)


def aggregate(
    windows: Iterable[tuple[str, float, float]], floor: float = COUNT_SPREAD
) -> tuple[dict[Level, SlotStats], int]:
    """Statistics per level from ``(thing, window start, value)`` rows, and how many windows there were.
    A window delivered twice (the history is written at least once) counts once, with its larger value."""
    unique: dict[tuple[str, float], float] = {}
    for thing, start, value in windows:
        key = (thing, start)
        previous = unique.get(key)
        unique[key] = value if previous is None else max(previous, value)
    grouped: dict[Level, list[float]] = defaultdict(list)
    for (_, start), value in unique.items():
        for level in levels_of(start):
            grouped[level].append(value)
    return {level: slot_stats(values, floor) for level, values in grouped.items()}, len(unique)


def bands_from(stats: Mapping[Level, SlotStats]) -> tuple[tuple[float, float, float], ...]:
    """One band per slot, pooling a sparse slot with its hour of day, then with all windows."""
    bands = []
    for slot in range(SLOTS):
        chosen = stats[(ALL, 0)]
        for level in ((SLOT, slot), (HOUR, slot % 24)):
            found = stats.get(level)
            if found is not None and found.windows >= MIN_SLOT_WINDOWS:
                chosen = found
                break
        bands.append(chosen.band())
    return tuple(bands)


@dataclass(frozen=True)
class TrainingData:
    """What the history gives the trainer for one behavior: statistics per level, the windows they are of,
    and of the profile (any behavior: the history records them all), the first window's start in the span
    (when collection began, for a profile deployed within it) and how many things had a window."""

    stats: Mapping[Level, SlotStats]
    windows: int
    earliest: float | None
    things: int


def zero_filled(spec: MetricSpec) -> bool:
    """A cloud-side count: an empty window had none (the evaluator judges it as 0)."""
    return spec.source is MetricSource.CLOUD and spec.value_kind is ValueKind.COUNT


def min_spread_of(spec: MetricSpec) -> float:
    """The floor of a slot's spread for a behavior on ``spec`` (see the module docstring)."""
    return COUNT_SPREAD if zero_filled(spec) else STATE_SPREAD


def training_stats(data: TrainingData, spec: MetricSpec) -> Mapping[Level, SlotStats]:
    """The statistics to train on: for a cloud-side count with no window of activity at all in the 14
    days (no authorization failure anywhere in the fleet), those of windows that are all 0."""
    if (ALL, 0) in data.stats or not zero_filled(spec) or data.things == 0:
        return data.stats
    return {(ALL, 0): SlotStats(data.things, 0.0, 0.0, (0.0, 0.0, 0.0), COUNT_SPREAD)}


def datapoints_of(data: TrainingData, spec: MetricSpec, span_seconds: float) -> int:
    """The datapoints towards the minimum (see the module docstring)."""
    if not zero_filled(spec):
        return data.windows
    return max(data.windows, data.things * int(span_seconds // WINDOW_SECONDS))


def training_span(now: float) -> tuple[float, float]:
    """The trailing 14 days the model is trained on: windows starting in ``[start, end)``."""
    return now - TRAINING_DAYS * DAY, now


def train(
    previous: LearnedModel | None,
    *,
    profile: str,
    behavior: str,
    metric: str,
    stats: Mapping[Level, SlotStats],
    datapoints: int,
    earliest: float | None,
    now: float,
) -> LearnedModel:
    """The model after today's training run (``stats``: the trailing 14 days' statistics per level,
    ``datapoints`` windows in them, ``earliest`` the first window's start).

    Built (ACTIVE) once collection has run 14 days and the 14 days hold 25,000 windows; otherwise the
    previous bands are kept (EXPIRED once 30 days old), or, with none, PENDING_BUILD until 30 days of
    daily retries after the first 14 days have passed, then EXPIRED (given up), as the guide says."""
    starts = [t for t in (earliest, previous.collection_start if previous else None, now) if t is not None]
    collection_start = min(starts)
    base = LearnedModel(profile, behavior, metric, PENDING_BUILD, collection_start, datapoints)
    if previous is not None and previous.reason == REASON_GAVE_UP and previous.last_refresh is None:
        return previous  # given up: no more retries (the operator removes the model item to start again)
    collected = now - collection_start + TRAINING_SLACK >= TRAINING_DAYS * DAY
    if collected and datapoints >= MIN_DATAPOINTS and (ALL, 0) in stats:
        return replace(base, status=ACTIVE, last_refresh=now, reason="", bands=bands_from(stats))
    if previous is not None and previous.last_refresh is not None:
        stale = now - previous.last_refresh > EXPIRY_DAYS * DAY
        return replace(
            base,
            status=EXPIRED if stale else ACTIVE,
            last_refresh=previous.last_refresh,
            reason=REASON_STALE if stale else "",
            bands=previous.bands,
        )
    if now - collection_start > (TRAINING_DAYS + RETRY_DAYS) * DAY:
        return replace(base, status=EXPIRED, reason=REASON_GAVE_UP)
    return replace(base, reason=REASON_COLLECTING)


def why_not_judging(model: LearnedModel, now: float) -> str | None:
    """The log line's reason when the model cannot judge, or None when it can."""
    status = model.judging_status(now)
    if status == ACTIVE:
        return None
    if status == PENDING_BUILD:
        return (
            f"model of '{model.behavior}' is PENDING_BUILD: {model.datapoints} of {MIN_DATAPOINTS} datapoints, "
            f"{model.collection_percentage(now)} % collected"
        )
    if model.reason == REASON_GAVE_UP:
        return (
            f"model of '{model.behavior}' EXPIRED: the minimum of {MIN_DATAPOINTS} datapoints in "
            f"{TRAINING_DAYS} days was not met within {RETRY_DAYS} days of daily retries"
        )
    refreshed = model.last_refresh if model.last_refresh is not None else model.collection_start
    return (
        f"model of '{model.behavior}' EXPIRED: not refreshed for {(now - refreshed) / DAY:.1f} days "
        f"(more than {EXPIRY_DAYS}); the behavior does not alarm until the trainer refreshes it"
    )
