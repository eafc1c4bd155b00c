"""Scoring a replay: per behavior, the alarms it raised, the devices in alarm, and, against the
attacks' labels (or the operators' verification states), the attacks it detected and missed, its
false alarms per 1,000 device-days and its time to detect.

- An attack is *detected* by a behavior on one of the attack's metrics that raises ``in-alarm`` on
  the attacked thing from the attack's start until its end plus one window plus the behavior's
  ``consecutiveDatapointsToAlarm`` windows (a windowed behavior alarms when enough windows closed;
  a per-report metric such as listening ports counts one agent report, 300 s, as its window).
- A *false alarm* is an ``in-alarm`` that no label explains: on a thing not under attack at the
  time (from an attack's start to the same horizon), whatever the metric. Verification states
  (the violation log's ``TRUE_POSITIVE``, ``FALSE_POSITIVE``, ``BENIGN_POSITIVE``, ``UNKNOWN``, as
  ``{"violationId", "verificationState"}``) override the labels for the alarms they name: a true
  positive is a detected attack (time to detect 0: its start is not known), a benign positive is
  neither an attack nor a false alarm, a false positive is a false alarm, and an unknown one is
  judged by the labels.
- A behavior of the same name in several profiles (one per device class) is scored as one.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from detect_lab.replay.result import Alarm, ReplayResult
from iot_defender_runtime.model.detect_profiles import DetectProfiles
from iot_defender_runtime.model.violation import VerificationState

UNKNOWN = VerificationState.UNKNOWN
REPORT_SECONDS = 300.0  # the agent's report interval: the window of a per-report metric


class ScoringError(ValueError):
    """Bad scoring input; the message names the argument and what is allowed."""


@dataclass(frozen=True)
class Detection:
    """One labelled attack (``metrics``: those it shows in) and what detected it: ``detected_by`` the
    behaviors that alarmed in time,
    ``time_to_detect`` seconds from the attack's start to the first of those alarms."""

    attack_id: str
    kind: str
    thing: str
    start: float
    end: float
    metrics: tuple[str, ...]
    detected_by: tuple[str, ...] = ()
    time_to_detect: float | None = None

    @property
    def detected(self) -> bool:
        return bool(self.detected_by)


@dataclass(frozen=True)
class BehaviorScore:
    """One behavior's figures; ``attacks`` are the labelled attacks on its metric."""

    behavior: str
    metric: str
    alarms: int
    devices_in_alarm: int
    attacks: int
    detected: int
    false_alarms: int
    false_alarms_per_1000_device_days: float
    time_to_detect_median: float | None
    time_to_detect_max: float | None

    @property
    def missed(self) -> int:
        return self.attacks - self.detected


@dataclass(frozen=True)
class Score:
    """A replay's figures, per behavior and overall (any behavior detecting an attack detects it)."""

    behaviors: tuple[BehaviorScore, ...]
    detections: tuple[Detection, ...]
    device_days: float
    alarms: int
    false_alarms: int
    verified: int = 0  # alarms judged by a verification state instead of the labels

    @property
    def attacks(self) -> int:
        return len(self.detections)

    @property
    def detected(self) -> int:
        return sum(1 for d in self.detections if d.detected)

    @property
    def missed(self) -> int:
        return self.attacks - self.detected

    @property
    def recall(self) -> float | None:
        """Detected attacks over attacks; None without attacks."""
        return self.detected / self.attacks if self.attacks else None

    @property
    def false_alarms_per_1000_device_days(self) -> float:
        return per_1000(self.false_alarms, self.device_days)

    @property
    def time_to_detect_median(self) -> float | None:
        return _median([d.time_to_detect for d in self.detections if d.time_to_detect is not None])

    @property
    def time_to_detect_max(self) -> float | None:
        return max((d.time_to_detect for d in self.detections if d.time_to_detect is not None), default=None)

    def of(self, behavior: str) -> BehaviorScore:
        return next(b for b in self.behaviors if b.behavior == behavior)


def per_1000(count: int, device_days: float) -> float:
    return 1000.0 * count / device_days if device_days > 0 else 0.0


def score_replay(
    result: ReplayResult, labels: Sequence[Any] = (), verifications: Sequence[Mapping[str, Any]] = ()
) -> Score:
    """Score ``result`` against ``labels`` (``AttackLabel``s) and ``verifications``."""
    return score(result.alarms(), result.profiles, labels, result.device_days, verifications)


def score(
    alarms: Sequence[Alarm],
    profiles: DetectProfiles,
    labels: Sequence[Any],
    device_days: float,
    verifications: Sequence[Mapping[str, Any]] = (),
) -> Score:
    """Score ``alarms`` of ``profiles``' behaviors over ``device_days`` against ``labels`` and ``verifications``.

    :raises ScoringError: for a verification that is not ``{"violationId": str, "verificationState": one
        of TRUE_POSITIVE, FALSE_POSITIVE, BENIGN_POSITIVE, UNKNOWN}``, or ``device_days`` not above 0.
    """
    if isinstance(device_days, bool) or not isinstance(device_days, int | float) or not device_days > 0:
        raise ScoringError(f"device_days {device_days!r} must be a number above 0")
    verdicts = verification_states(verifications)
    windows = _horizons(profiles)
    by_thing: dict[str, list[Any]] = defaultdict(list)
    for label in labels:
        by_thing[label.thing].append(label)
    false_alarms: dict[str, int] = defaultdict(int)
    for alarm in alarms:
        if _is_false(alarm, verdicts.get(alarm.violation_id), by_thing, windows):
            false_alarms[alarm.behavior] += 1
    detections = tuple(_detection(label, alarms, windows) for label in labels)
    detections += tuple(_verified_detections(alarms, verdicts))
    behaviors = tuple(
        _behavior_score(name, metric, alarms, detections, false_alarms[name], device_days)
        for name, metric in _behavior_names(profiles)
    )
    verified = sum(
        1 for a in alarms if verdicts.get(a.violation_id, VerificationState.UNKNOWN) != VerificationState.UNKNOWN
    )
    return Score(behaviors, detections, float(device_days), len(alarms), sum(false_alarms.values()), verified)


def verification_states(verifications: Iterable[Mapping[str, Any]]) -> dict[str, VerificationState]:
    """``violationId`` -> ``VerificationState`` of the violation log's entries (``iot-defender violations``)."""
    found: dict[str, VerificationState] = {}
    allowed = ", ".join(state.value for state in VerificationState)
    for index, entry in enumerate(verifications):
        violation_id = entry.get("violationId") if isinstance(entry, Mapping) else None
        state = entry.get("verificationState") if isinstance(entry, Mapping) else None
        if not isinstance(violation_id, str) or not violation_id:
            raise ScoringError(f"verifications[{index}].violationId {violation_id!r} must be a violation id")
        try:
            found[violation_id] = VerificationState(state)
        except ValueError:
            raise ScoringError(f"verifications[{index}].verificationState {state!r} must be one of {allowed}") from None
    return found


def _horizons(profiles: DetectProfiles) -> dict[str, float]:
    """Per behavior name, how long after an attack's end its alarm still counts: one window plus
    ``consecutiveDatapointsToAlarm`` windows (the longest over its profiles)."""
    found: dict[str, float] = {}
    for b in profiles.behaviors:
        window = float(b.definition.duration_seconds or REPORT_SECONDS)
        horizon = window * (1 + b.definition.consecutive_datapoints_to_alarm)
        found[b.definition.name] = max(found.get(b.definition.name, 0.0), horizon)
    return found


def _behavior_names(profiles: DetectProfiles) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for b in profiles.behaviors:
        seen.setdefault(b.definition.name, b.definition.metric)
    return list(seen.items())


def _explains(label: Any, alarm: Alarm, horizon: float) -> bool:
    return label.start <= alarm.start <= label.end + horizon


def _is_false(
    alarm: Alarm, verdict: VerificationState | None, by_thing: Mapping[str, list[Any]], windows: Mapping[str, float]
) -> bool:
    if verdict is VerificationState.FALSE_POSITIVE:
        return True
    if verdict in (VerificationState.TRUE_POSITIVE, VerificationState.BENIGN_POSITIVE):
        return False
    horizon = windows.get(alarm.behavior, REPORT_SECONDS * 2)
    return not any(_explains(label, alarm, horizon) for label in by_thing.get(alarm.thing, ()))


def _detection(label: Any, alarms: Sequence[Alarm], windows: Mapping[str, float]) -> Detection:
    kind = getattr(label.kind, "value", label.kind)
    hits = [
        alarm
        for alarm in alarms
        if alarm.thing == label.thing
        and alarm.metric in label.metrics
        and _explains(label, alarm, windows.get(alarm.behavior, REPORT_SECONDS * 2))
    ]
    metrics = tuple(label.metrics)
    if not hits:
        return Detection(label.attack_id, kind, label.thing, label.start, label.end, metrics)
    first = min(alarm.start for alarm in hits)
    names = tuple(sorted({alarm.behavior for alarm in hits}))
    return Detection(label.attack_id, kind, label.thing, label.start, label.end, metrics, names, first - label.start)


def _verified_detections(alarms: Sequence[Alarm], verdicts: Mapping[str, VerificationState]) -> list[Detection]:
    """A true positive with no label is an attack of its own, detected when it was raised."""
    return [
        Detection(
            alarm.violation_id,
            "verified",
            alarm.thing,
            alarm.start,
            alarm.start,
            (alarm.metric,),
            (alarm.behavior,),
            0.0,
        )
        for alarm in alarms
        if verdicts.get(alarm.violation_id) is VerificationState.TRUE_POSITIVE
    ]


def _behavior_score(
    name: str,
    metric: str,
    alarms: Sequence[Alarm],
    detections: Sequence[Detection],
    false_alarms: int,
    device_days: float,
) -> BehaviorScore:
    own = [a for a in alarms if a.behavior == name]
    on_metric = [d for d in detections if metric in d.metrics]
    detected = [d for d in on_metric if name in d.detected_by]
    times = [_own_time(d, own) for d in detected]
    return BehaviorScore(
        name,
        metric,
        len(own),
        len({a.thing for a in own}),
        len(on_metric),
        len(detected),
        false_alarms,
        per_1000(false_alarms, device_days),
        _median(times),
        max(times, default=None),
    )


def _own_time(detection: Detection, alarms: Sequence[Alarm]) -> float:
    """Seconds from the attack's start to this behavior's first alarm on the thing since."""
    starts = [a.start for a in alarms if a.thing == detection.thing and detection.start <= a.start]
    return min(starts, default=detection.start) - detection.start


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None
