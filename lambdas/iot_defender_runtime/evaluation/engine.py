"""Evaluating one thing's datapoints against one behavior, as Device Defender does.

- Periodic metrics (a behavior with ``durationSeconds`` on a numeric metric) are summed per window
  of ``durationSeconds`` aligned to the epoch. The datapoint's time decides its window, never its
  arrival: several windows may be open at once, and a window is judged only once ``settled_until``
  (the caller's "every datapoint stamped before this has arrived", by default ``now``) passes its
  end, whatever batches its datapoints came in. Other metrics (per message, per report, set
  metrics) are judged datapoint by datapoint.
- ``fill_empty`` (cloud-side counts: the cloud sees every message, so no datapoint means none
  happened): a settled window with no datapoint is judged as 0, so a device that stays connected
  and sends nothing alarms on an "at least N" behavior. Filling stops changing the state once its
  streaks are full, so at most ``consecutiveDatapointsToAlarm + consecutiveDatapointsToClear`` empty
  windows are judged per gap, and none while 0 is normal for a thing in steady normal state.
- A judged value that does not meet the criteria is violating. ``consecutiveDatapointsToAlarm``
  violating values in a row raise ``in-alarm``; ``consecutiveDatapointsToClear`` normal values in a
  row while in alarm raise ``alarm-cleared`` with the same ``violationId``.
- A thing in alarm that sends nothing for ``silence_seconds`` gets ``alarm-invalidated``.
- Datapoints for a window already judged (before ``judged_until``, which moves to the last settled
  window end whenever the state changes) are late and dropped; datapoints stamped more than
  ``max_clock_skew`` after ``now`` are dropped; a datapoint id seen before is a duplicate and dropped.
  Each is counted, never silently lost.
- Statistical behaviors compare a window's aggregate with a fleet percentile the caller computes
  (``criteria.percentile``) and passes as ``fleet``: thresholds by window start. A window is judged
  against the threshold of the latest window that ended before it started; with none, the window
  is closed unjudged (counted, never guessed). The last closed windows are kept in the state so
  that the caller can compute the next percentiles from them.
- Learned (ML) behaviors are judged against a model's upper bound of normal, which the caller passes
  as ``band``: the bound for a window (or datapoint) by its start time, or None when no model can judge
  it (still being built, expired, unreadable): the window is then closed unjudged, as a statistical
  window without a threshold. On a periodic cloud-side metric an ML behavior is judged per
  ``WINDOW_SECONDS`` window (ML behaviors have no ``durationSeconds``); on a per-message metric and on
  a device-side or custom metric per datapoint (an agent report: a count of listening ports, the bytes
  sent since the last report, which a window's sum would double when two reports fall in one window),
  each reported as a window from its time to its time (the history's form for per-datapoint values).
- A thing in steady normal state on a per-datapoint metric (not in alarm, no violating streak)
  reports ``changed=False`` even though it saw new datapoints: nothing it would need later changed,
  so the caller need not write its state.

State in, state out: the engine never reads a clock and never guesses missing state. Streak
counters stop at the number that matters, so they do not grow for a steady thing.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from iot_defender_runtime.evaluation.criteria import compile_criteria
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.learned_model import WINDOW_SECONDS
from iot_defender_runtime.model.metric_catalog import NUMERIC_KINDS, DurationRule, MetricSource, MetricSpec
from iot_defender_runtime.model.violation import metric_value_of

IN_ALARM, ALARM_CLEARED, ALARM_INVALIDATED = "in-alarm", "alarm-cleared", "alarm-invalidated"
_VIOLATION_NAMESPACE = uuid.UUID("7f0e4c3a-5d0b-4f5e-9a57-3c2b1d7e6a10")
MAX_REMEMBERED_IDS = 64
RECENT_WINDOWS = 3  # closed windows kept per thing for fleet percentiles
MAX_TOTAL = float(2**64 - 2048)  # the largest float below 2**64: a window total always fits a MetricValue count


@dataclass(frozen=True)
class Datapoint:
    timestamp: float
    value: Any
    datapoint_id: str | None = None


@dataclass(frozen=True)
class BehaviorState:
    open_windows: tuple[tuple[float, float], ...] = ()  # (window start, total so far) not yet judged, oldest first
    seen_ids: tuple[str, ...] = ()
    violating_streak: int = 0
    normal_streak: int = 0
    in_alarm: bool = False
    violation_id: str | None = None
    last_datapoint_at: float | None = None
    judged_until: float | None = None  # end of the last judged window: earlier datapoints are late
    closed: tuple[tuple[float, float], ...] = ()  # statistical behaviors: (window start, aggregate), newest last


@dataclass(frozen=True)
class Transition:
    event_type: str
    violation_id: str
    at: float
    metric_value: dict[str, Any]


@dataclass(frozen=True)
class ClosedWindow:
    """A window the evaluation closed: its aggregate and the verdict (the window history's row).
    ``violating`` is None for a statistical window closed without a fleet threshold (unjudged)."""

    start: float
    end: float
    value: float
    violating: bool | None


@dataclass(frozen=True)
class Evaluation:
    state: BehaviorState
    transitions: tuple[Transition, ...] = ()
    windows: tuple[ClosedWindow, ...] = ()  # windows closed by this evaluation, oldest first
    late: int = 0
    duplicates: int = 0
    future: int = 0
    judged: int = 0
    unjudged: int = 0
    changed: bool = field(default=False)


Band = Callable[[float], float | None]  # ML behaviors: window start -> upper bound of normal, or None


def is_windowed(definition: BehaviorDefinition, spec: MetricSpec) -> bool:
    if definition.kind is BehaviorKind.ML:
        periodic = spec.duration is not DurationRule.NONE and spec.value_kind in NUMERIC_KINDS
        return periodic and spec.source is MetricSource.CLOUD
    return definition.duration_seconds is not None and spec.value_kind in NUMERIC_KINDS


def window_seconds(definition: BehaviorDefinition) -> int:
    """The window of a windowed behavior: its ``durationSeconds``, or ``WINDOW_SECONDS`` for an ML one."""
    return definition.duration_seconds or (WINDOW_SECONDS if definition.kind is BehaviorKind.ML else 0)


def evaluate(
    thing_name: str,
    definition: BehaviorDefinition,
    spec: MetricSpec,
    state: BehaviorState,
    datapoints: list[Datapoint],
    *,
    now: float,
    settled_until: float | None = None,
    max_clock_skew: float = 60.0,
    fill_empty: bool = False,
    known_since: float | None = None,
    threshold: float | None = None,
    fleet: Mapping[float, float] | None = None,
    band: Band | None = None,
    profile: str = "",
) -> Evaluation:
    """Judge ``datapoints`` and every window that ended by ``settled_until`` (default ``now``).

    ``profile`` is the security profile the behavior belongs to: part of each violation's id, so that
    two profiles with a behavior of the same name on the same thing raise two violations, as managed
    Detect does (a violation is one thing, profile and behavior).
    ``now`` is the wall clock: a datapoint stamped more than ``max_clock_skew`` after it is dropped.
    ``fill_empty`` judges settled windows without datapoints as 0 (see the module docstring), from the
    first window that starts at or after ``known_since`` (the thing's first datapoint the caller knows
    of) when the behavior has judged nothing yet.
    ``threshold`` fixes the value a statistical behavior is judged against; ``fleet`` gives it per
    window start. ``band`` gives an ML behavior's upper bound of normal by window start (see the module
    docstring); without it every ML window is unjudged."""
    run = _Run(thing_name, definition, spec, state, threshold, fleet, band, profile)
    for datapoint in sorted(datapoints, key=lambda d: d.timestamp):
        run.add(datapoint, now=now, max_clock_skew=max_clock_skew)
    run.close_settled(now if settled_until is None else settled_until, fill_empty=fill_empty, known_since=known_since)
    return run.result(state)


def check_silence(
    thing_name: str,
    definition: BehaviorDefinition,
    state: BehaviorState,
    *,
    now: float,
    silence_seconds: float,
    last_activity: float | None = None,
) -> Evaluation:
    """``alarm-invalidated`` for a thing in alarm that has sent nothing for ``silence_seconds``.

    ``last_activity`` is the thing's last datapoint of any metric (default: this behavior's): the
    guide invalidates the alarms of a device that stops reporting, not of a behavior whose metric
    went quiet while the device still reports. The invalidated behavior forgets its windows and
    where it was judged, so a device that comes back starts afresh."""
    last = state.last_datapoint_at if last_activity is None else last_activity
    if not state.in_alarm or last is None or now - last < silence_seconds:
        return Evaluation(state=state)
    assert state.violation_id is not None
    transition = Transition(ALARM_INVALIDATED, state.violation_id, now, {})
    cleared = replace(
        state,
        in_alarm=False,
        violation_id=None,
        violating_streak=0,
        normal_streak=0,
        open_windows=(),
        judged_until=None,
    )
    return Evaluation(state=cleared, transitions=(transition,), changed=True)


class _Run:
    """One evaluation with the state unpacked into plain attributes: no object per datapoint."""

    def __init__(
        self,
        thing: str,
        definition: BehaviorDefinition,
        spec: MetricSpec,
        state: BehaviorState,
        threshold: float | None,
        fleet: Mapping[float, float] | None,
        band: Band | None = None,
        profile: str = "",
    ) -> None:
        self.thing = thing
        self.profile = profile
        self.definition = definition
        self.spec = spec
        self.statistical = definition.kind is BehaviorKind.STATISTICAL and threshold is None
        self.ml = definition.kind is BehaviorKind.ML
        self.band = band
        self.fleet = sorted((fleet or {}).items())
        self.normal: Callable[[Any], bool]
        if self.statistical:
            self.normal = _never_called
        elif self.ml:
            self.normal = _at_or_below(math.inf)  # until a window's bound is known: 0 is always normal
        else:
            self.normal = compile_criteria(definition.comparison_operator or "", definition.value, threshold)
        self.windowed = is_windowed(definition, spec)
        self.duration = float(window_seconds(definition))
        self.open = dict(state.open_windows)  # window start -> total
        self.seen_ids = list(state.seen_ids)
        self.violating_streak = state.violating_streak
        self.normal_streak = state.normal_streak
        self.in_alarm = state.in_alarm
        self.violation_id = state.violation_id
        self.last_datapoint_at = state.last_datapoint_at
        self.judged_until = state.judged_until
        self.closed = list(state.closed)
        self.transitions: list[Transition] = []
        self.windows: list[ClosedWindow] = []
        self.added = False
        self.late = self.duplicates = self.future = self.judged = self.unjudged = 0

    def add(self, datapoint: Datapoint, *, now: float, max_clock_skew: float) -> None:
        timestamp = datapoint.timestamp
        if timestamp > now + max_clock_skew:
            self.future += 1
            return
        if datapoint.datapoint_id is not None and datapoint.datapoint_id in self.seen_ids:
            self.duplicates += 1
            return
        if not self.windowed:
            self._remember(datapoint)
            if self.ml:
                self._judge_learned(timestamp, timestamp, datapoint.value)
                return
            self._judge(datapoint.value, timestamp)
            return
        window = math.floor(timestamp / self.duration) * self.duration
        if self.judged_until is not None and window < self.judged_until:
            self.late += 1
            return
        self._remember(datapoint)
        # A total stays within the API's count (UnsignedLong) and a finite number, however large the datapoints.
        self.open[window] = min(self.open.get(window, 0.0) + float(datapoint.value), MAX_TOTAL)
        self.added = True

    def close_settled(self, settled_until: float, *, fill_empty: bool, known_since: float | None = None) -> None:
        """Judge, oldest first, every open window that ended by ``settled_until``, and with
        ``fill_empty`` the settled windows between them that had no datapoint (as 0)."""
        if not self.windowed:
            return
        last_end = math.floor(settled_until / self.duration) * self.duration  # end of the last settled window
        fill = fill_empty and not self.statistical
        # Nothing judged yet (a new thing, one back from silence, a behavior just added): empty windows
        # count from its first open window, else from the first window that starts once the thing is
        # known (after the settled bound, and after its first datapoint), never from before.
        anchor = min(self.open, default=last_end + self.duration)
        if known_since is not None and not self.open:
            anchor = max(anchor, math.ceil(known_since / self.duration) * self.duration)
        for start in sorted(self.open):
            if start + self.duration > settled_until:
                break
            if fill:
                self._fill_empty_windows(start, anchor)
            self._close_window(start, self.open.pop(start))
        if fill:
            self._fill_empty_windows(last_end, anchor)
        if (self.added or self.transitions) and (self.judged_until is None or self.judged_until < last_end):
            self.judged_until = last_end  # the state is written anyway: datapoints of settled windows are late

    def _fill_limit(self) -> int:
        definition = self.definition
        return definition.consecutive_datapoints_to_alarm + definition.consecutive_datapoints_to_clear

    def _fill_empty_windows(self, until: float, anchor: float) -> None:
        """Judge the windows from ``judged_until`` (or ``anchor``) up to ``until`` (exclusive), which had no
        datapoint, as 0. Nothing to do when 0 is normal for a thing in steady normal state: judging
        them changes nothing."""
        if not self.in_alarm and not self.violating_streak and self.normal(0):
            return
        if self.judged_until is None:
            self.judged_until = anchor  # empty windows are judged from here on
        start = self.judged_until
        if start >= until:
            return
        count = round((until - start) / self.duration)
        for _ in range(min(count, self._fill_limit())):  # after that many the streaks are full: no change
            self._close_window(start, 0.0)
            start += self.duration
        self.judged_until = until

    def _close_window(self, start: float, aggregate: float) -> None:
        end = start + self.duration
        if self.judged_until is None or end > self.judged_until:
            self.judged_until = end
        value = int(aggregate) if aggregate.is_integer() else aggregate
        if self.ml:
            self._judge_learned(start, end, value)
            return
        if self.statistical:
            self.closed = [*self.closed, (start, value)][-RECENT_WINDOWS:]
            threshold = self._fleet_threshold(start)
            if threshold is None:
                self.unjudged += 1
                self.windows.append(ClosedWindow(start, end, value, None))
                return
            self.normal = compile_criteria(self.definition.comparison_operator or "", None, threshold)
        self.windows.append(ClosedWindow(start, end, value, not self._judge(value, end)))

    def _judge_learned(self, start: float, end: float, value: Any) -> None:
        """An ML window (or datapoint) against the model's bound for its start; unjudged without one."""
        upper = self.band(start) if self.band is not None else None
        if upper is None:
            self.unjudged += 1
            self.windows.append(ClosedWindow(start, end, value, None))
            return
        self.normal = _at_or_below(upper)
        self.windows.append(ClosedWindow(start, end, value, not self._judge(value, end)))

    def _fleet_threshold(self, window_start: float) -> float | None:
        """The threshold of the latest fleet window that ended before ``window_start``."""
        found = None
        for start, threshold in self.fleet:
            if start + self.duration <= window_start:
                found = threshold
        return found

    def _remember(self, datapoint: Datapoint) -> None:
        if datapoint.datapoint_id is not None:
            self.seen_ids.append(datapoint.datapoint_id)
            if len(self.seen_ids) > MAX_REMEMBERED_IDS:
                del self.seen_ids[0]
        if self.last_datapoint_at is None or datapoint.timestamp > self.last_datapoint_at:
            self.last_datapoint_at = datapoint.timestamp

    def _judge(self, value: Any, at: float) -> bool:
        """Judge one value (a datapoint's, or a window's aggregate); whether it was normal."""
        self.judged += 1
        definition = self.definition
        normal = bool(self.normal(value))
        if normal:
            self.violating_streak = 0
            self.normal_streak = min(self.normal_streak + 1, definition.consecutive_datapoints_to_clear)
            if self.in_alarm and self.normal_streak >= definition.consecutive_datapoints_to_clear:
                assert self.violation_id is not None
                self.transitions.append(Transition(ALARM_CLEARED, self.violation_id, at, self._metric_value(value)))
                self.in_alarm, self.violation_id = False, None
        else:
            self.normal_streak = 0
            self.violating_streak = min(self.violating_streak + 1, definition.consecutive_datapoints_to_alarm)
            if not self.in_alarm and self.violating_streak >= definition.consecutive_datapoints_to_alarm:
                violation_id = str(uuid.uuid5(_VIOLATION_NAMESPACE, self._violation_key(at)))
                self.transitions.append(Transition(IN_ALARM, violation_id, at, self._metric_value(value)))
                self.in_alarm, self.violation_id = True, violation_id
        return normal

    def _violation_key(self, at: float) -> str:
        """What makes a violation: the thing, the behavior (of its profile) and when it was raised."""
        key = f"{self.thing}|{self.definition.name}|{at!r}"
        return f"{self.profile}|{key}" if self.profile else key

    def _metric_value(self, value: Any) -> dict[str, Any]:
        """The ``MetricValue`` JSON of the judged value: a list kind always a list (one source IP too)."""
        return metric_value_of(self.spec.value_kind.value, value)

    def result(self, before: BehaviorState) -> Evaluation:
        state = BehaviorState(
            open_windows=tuple(sorted(self.open.items())),
            seen_ids=tuple(self.seen_ids),
            violating_streak=self.violating_streak,
            normal_streak=self.normal_streak,
            in_alarm=self.in_alarm,
            violation_id=self.violation_id,
            last_datapoint_at=self.last_datapoint_at,
            judged_until=self.judged_until,
            closed=tuple(self.closed),
        )
        return Evaluation(
            state=state,
            transitions=tuple(self.transitions),
            windows=tuple(self.windows),
            late=self.late,
            duplicates=self.duplicates,
            future=self.future,
            judged=self.judged,
            unjudged=self.unjudged,
            changed=state != before and not self._steady_normal(state, before),
        )

    def _steady_normal(self, state: BehaviorState, before: BehaviorState) -> bool:
        """Per-datapoint metric, normal before and after: only the remembered ids and the last datapoint
        time moved, and neither is read again until the thing violates (which changes its streak)."""
        if self.windowed or state.in_alarm or state.violating_streak:
            return False
        return replace(state, seen_ids=(), last_datapoint_at=None) == replace(
            before, seen_ids=(), last_datapoint_at=None
        )


def _at_or_below(upper: float) -> Callable[[Any], bool]:
    return lambda value: float(value) <= upper


def _never_called(value: Any) -> bool:
    raise AssertionError("a statistical behavior is judged only against a fleet threshold")
