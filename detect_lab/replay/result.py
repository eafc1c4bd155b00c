"""What a replay produced: the violations the evaluator published, the windows it closed, the set
values the things reported (for the tuner), and how long it took."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from detect_lab.replay.memory import CollectingHistory
from iot_defender_runtime.evaluation.engine import ALARM_CLEARED, ALARM_INVALIDATED, IN_ALARM
from iot_defender_runtime.model.detect_profiles import DetectProfiles


@dataclass(frozen=True)
class Alarm:
    """One alarm: from its ``in-alarm`` (``start``, epoch seconds) to its ``alarm-cleared`` or
    ``alarm-invalidated`` (``end``; None while still in alarm when the replay ended)."""

    profile: str
    behavior: str
    metric: str
    thing: str
    violation_id: str
    start: float
    end: float | None = None


@dataclass(frozen=True)
class SetObservations:
    """The values of set metrics (listening ports, destination addresses) each thing reported outside
    the labelled attacks: ``values[(thing, metric)]`` counts each value's datapoints."""

    values: Mapping[tuple[str, str], Counter[Any]] = field(default_factory=dict)


@dataclass
class ReplayResult:
    """A replay's outcome.

    :ivar profiles: the behaviors replayed.
    :ivar violations: each violation message as the alert topic would have carried it, in order.
    :ivar history: each closed window, as the window history's rows (``history.rows()``).
    :ivar things: each thing replayed and its thing groups (its device class's group).
    :ivar start: epoch seconds the replayed period starts.
    :ivar end: epoch seconds it ends.
    :ivar device_days: things x days watched (the false alarm rate's denominator).
    :ivar records: Kinesis records replayed (0 for a history replay).
    :ivar datapoints: datapoints judged (a datapoint in two profiles counts twice).
    :ivar seconds: wall-clock seconds the replay took.
    :ivar counts: the evaluator's counters (late, redelivered, writes, ...).
    :ivar observed: set-metric values the things reported, when asked for (``observe_sets``).
    """

    profiles: DetectProfiles
    violations: list[dict[str, Any]]
    history: CollectingHistory
    things: Mapping[str, frozenset[str]]
    start: float
    end: float
    device_days: float
    records: int = 0
    datapoints: int = 0
    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    observed: SetObservations | None = None

    @property
    def datapoints_per_s(self) -> float:
        return self.datapoints / self.seconds if self.seconds > 0 else 0.0

    def alarms(self) -> tuple[Alarm, ...]:
        """The alarms, in the order they were raised, from the violation messages."""
        return alarms_of(self.violations)


def merged(results: Sequence[ReplayResult], seconds: float) -> ReplayResult:
    """One result from the replays of a fleet's parts (``SimulatedFleet.part_of``), which judged
    disjoint things with the same profiles over the same period; ``seconds``: the wall-clock time."""
    first = results[0]
    history = CollectingHistory()
    violations: list[dict[str, Any]] = []
    things: dict[str, frozenset[str]] = {}
    counts: Counter[str] = Counter()
    observed: dict[tuple[str, str], Counter[Any]] = {}
    for result in results:
        history.extend(result.history)
        violations.extend(result.violations)
        things.update(result.things)
        counts.update(result.counts)
        if result.observed is not None:
            observed.update(result.observed.values)
    violations.sort(key=lambda message: message["violationEventTime"])  # stable: each part's order kept
    return ReplayResult(
        profiles=first.profiles,
        violations=violations,
        history=history,
        things=things,
        start=first.start,
        end=first.end,
        device_days=sum(result.device_days for result in results),
        records=sum(result.records for result in results),
        datapoints=sum(result.datapoints for result in results),
        seconds=seconds,
        counts=counts,
        observed=SetObservations(observed) if first.observed is not None else None,
    )


def alarms_of(violations: list[dict[str, Any]]) -> tuple[Alarm, ...]:
    """Alarms from violation messages (managed Detect's alert JSON, ``violationEventTime`` in epoch
    milliseconds): an ``in-alarm`` opens one, the ``alarm-cleared`` or ``alarm-invalidated`` of the same
    ``violationId`` closes it."""
    opened: dict[str, Alarm] = {}
    order: list[str] = []
    for message in violations:
        violation_id = message["violationId"]
        at = message["violationEventTime"] / 1000
        event = message["violationEventType"]
        if event == IN_ALARM and violation_id not in opened:
            behavior = message.get("behavior", {})
            opened[violation_id] = Alarm(
                message["securityProfileName"],
                behavior.get("name", ""),
                behavior.get("metric", ""),
                message["thingName"],
                violation_id,
                at,
            )
            order.append(violation_id)
        elif event in (ALARM_CLEARED, ALARM_INVALIDATED) and violation_id in opened:
            alarm = opened[violation_id]
            if alarm.end is None:
                opened[violation_id] = Alarm(**{**alarm.__dict__, "end": at})
    return tuple(opened[violation_id] for violation_id in order)
