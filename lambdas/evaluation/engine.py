"""Evaluating one thing's datapoints against one behavior, as Device Defender does.

- Periodic metrics (a behavior with ``durationSeconds`` on a numeric metric) are summed per window
  of ``durationSeconds`` aligned to the epoch; a window is judged when a later datapoint arrives or
  when ``now`` passes its end. Other metrics (per message, per report, set metrics) are judged
  datapoint by datapoint.
- A judged value that does not meet the criteria is violating. ``consecutiveDatapointsToAlarm``
  violating values in a row raise ``in-alarm``; ``consecutiveDatapointsToClear`` normal values in a
  row while in alarm raise ``alarm-cleared`` with the same ``violationId``.
- A thing in alarm that sends nothing for ``silence_seconds`` gets ``alarm-invalidated``.
- Datapoints for a window already judged are late and dropped; datapoints stamped more than
  ``max_clock_skew`` after ``now`` are dropped; a datapoint id seen before is a duplicate and dropped.
  Each is counted, never silently lost.
- Statistical behaviors compare with a fleet percentile the caller computes (``criteria.percentile``).

State in, state out: the engine never reads a clock and never guesses missing state. Streak
counters stop at the number that matters, so they do not grow for a steady thing.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from lambdas.evaluation.criteria import meets
from lambdas.shared.behavior_definition import BehaviorDefinition
from lambdas.shared.metric_catalog import NUMERIC_KINDS, MetricSpec

IN_ALARM, ALARM_CLEARED, ALARM_INVALIDATED = "in-alarm", "alarm-cleared", "alarm-invalidated"
_VIOLATION_NAMESPACE = uuid.UUID("7f0e4c3a-5d0b-4f5e-9a57-3c2b1d7e6a10")
MAX_REMEMBERED_IDS = 64


@dataclass(frozen=True)
class Datapoint:
    timestamp: float
    value: Any
    datapoint_id: str | None = None


@dataclass(frozen=True)
class BehaviorState:
    window_start: float | None = None
    aggregate: float = 0.0
    seen_ids: tuple[str, ...] = ()
    violating_streak: int = 0
    normal_streak: int = 0
    in_alarm: bool = False
    violation_id: str | None = None
    last_datapoint_at: float | None = None


@dataclass(frozen=True)
class Transition:
    event_type: str
    violation_id: str
    at: float
    metric_value: dict[str, Any]


@dataclass(frozen=True)
class Evaluation:
    state: BehaviorState
    transitions: tuple[Transition, ...] = ()
    late: int = 0
    duplicates: int = 0
    future: int = 0
    judged: int = 0
    changed: bool = field(default=False)


def is_windowed(definition: BehaviorDefinition, spec: MetricSpec) -> bool:
    return definition.duration_seconds is not None and spec.value_kind in NUMERIC_KINDS


def evaluate(
    thing_name: str,
    definition: BehaviorDefinition,
    spec: MetricSpec,
    state: BehaviorState,
    datapoints: list[Datapoint],
    *,
    now: float,
    max_clock_skew: float = 60.0,
    threshold: float | None = None,
) -> Evaluation:
    run = _Run(thing_name, definition, spec, state, threshold)
    for datapoint in sorted(datapoints, key=lambda d: d.timestamp):
        run.add(datapoint, now=now, max_clock_skew=max_clock_skew)
    run.close_due_window(now)
    return run.result(state)


def check_silence(
    thing_name: str, definition: BehaviorDefinition, state: BehaviorState, *, now: float, silence_seconds: float
) -> Evaluation:
    """``alarm-invalidated`` for a thing in alarm that has sent nothing for ``silence_seconds``."""
    if not state.in_alarm or state.last_datapoint_at is None or now - state.last_datapoint_at < silence_seconds:
        return Evaluation(state=state)
    assert state.violation_id is not None
    transition = Transition(ALARM_INVALIDATED, state.violation_id, now, {})
    cleared = replace(
        state, in_alarm=False, violation_id=None, violating_streak=0, normal_streak=0, window_start=None, aggregate=0.0
    )
    return Evaluation(state=cleared, transitions=(transition,), changed=True)


class _Run:
    def __init__(
        self,
        thing: str,
        definition: BehaviorDefinition,
        spec: MetricSpec,
        state: BehaviorState,
        threshold: float | None,
    ) -> None:
        self.thing = thing
        self.definition = definition
        self.spec = spec
        self.state = state
        self.threshold = threshold
        self.windowed = is_windowed(definition, spec)
        self.transitions: list[Transition] = []
        self.late = self.duplicates = self.future = self.judged = 0

    def add(self, datapoint: Datapoint, *, now: float, max_clock_skew: float) -> None:
        if datapoint.timestamp > now + max_clock_skew:
            self.future += 1
            return
        if datapoint.datapoint_id is not None and datapoint.datapoint_id in self.state.seen_ids:
            self.duplicates += 1
            return
        if not self.windowed:
            self._remember(datapoint)
            self._judge(datapoint.value, datapoint.timestamp)
            return
        duration = float(self.definition.duration_seconds or 0)
        window = math.floor(datapoint.timestamp / duration) * duration
        current = self.state.window_start
        if current is not None and window < current:
            self.late += 1
            return
        if current is not None and window > current:
            self._close_window(current + duration)
        if self.state.window_start is None:
            self.state = replace(self.state, window_start=window, aggregate=0.0, seen_ids=())
        self._remember(datapoint)
        self.state = replace(self.state, aggregate=self.state.aggregate + float(datapoint.value))

    def close_due_window(self, now: float) -> None:
        if self.windowed and self.state.window_start is not None:
            end = self.state.window_start + float(self.definition.duration_seconds or 0)
            if now >= end:
                self._close_window(end)

    def _close_window(self, end: float) -> None:
        aggregate = self.state.aggregate
        self.state = replace(self.state, window_start=None, aggregate=0.0, seen_ids=())
        self._judge(int(aggregate) if aggregate.is_integer() else aggregate, end)

    def _remember(self, datapoint: Datapoint) -> None:
        seen = self.state.seen_ids
        if datapoint.datapoint_id is not None:
            seen = (*seen, datapoint.datapoint_id)[-MAX_REMEMBERED_IDS:]
        last = max(self.state.last_datapoint_at or datapoint.timestamp, datapoint.timestamp)
        self.state = replace(self.state, seen_ids=seen, last_datapoint_at=last)

    def _judge(self, value: Any, at: float) -> None:
        self.judged += 1
        definition = self.definition
        normal = meets(definition.comparison_operator or "", definition.value, value, self.threshold)
        state = self.state
        to_alarm = definition.consecutive_datapoints_to_alarm
        to_clear = definition.consecutive_datapoints_to_clear
        if normal:
            streak = min(state.normal_streak + 1, to_clear)
            state = replace(state, normal_streak=streak, violating_streak=0)
            if state.in_alarm and streak >= to_clear:
                assert state.violation_id is not None
                self.transitions.append(Transition(ALARM_CLEARED, state.violation_id, at, self._metric_value(value)))
                state = replace(state, in_alarm=False, violation_id=None)
        else:
            streak = min(state.violating_streak + 1, to_alarm)
            state = replace(state, violating_streak=streak, normal_streak=0)
            if not state.in_alarm and streak >= to_alarm:
                violation_id = str(uuid.uuid5(_VIOLATION_NAMESPACE, f"{self.thing}|{definition.name}|{at!r}"))
                self.transitions.append(Transition(IN_ALARM, violation_id, at, self._metric_value(value)))
                state = replace(state, in_alarm=True, violation_id=violation_id)
        self.state = state

    def _metric_value(self, value: Any) -> dict[str, Any]:
        return {self.spec.value_kind.value: list(value) if isinstance(value, list | tuple) else value}

    def result(self, before: BehaviorState) -> Evaluation:
        return Evaluation(
            state=self.state,
            transitions=tuple(self.transitions),
            late=self.late,
            duplicates=self.duplicates,
            future=self.future,
            judged=self.judged,
            changed=self.state != before,
        )
