"""Tuning: for each profile and behavior, the threshold and ``consecutiveDatapointsToAlarm`` that meet
a target false alarm rate on the windows of normal devices, and the trade-off behind the choice.

- Normal windows: every closed window except those of a labelled thing that overlap its attack.
- The target is for the whole fleet (false alarms per 1,000 device-days, all behaviors together):
  each profile's behaviors share it equally (``budget``), so the fleet's total stays within it.
- Candidates (the same in ``detect_lab.sql``): the behavior's current threshold, and the normal
  peak (the largest normal window) times ``MULTIPLIERS``, rounded up to a whole count; each with
  ``consecutiveDatapointsToAlarm`` 1 to 10. Each candidate's false alarms are counted by replaying
  the streak rules over the normal windows (``streaks.count_alarms``), with the normal values grown
  by ``headroom`` (default 1.25: a threshold must hold if the fleet's traffic grows by a quarter,
  as the tuning seed's peak is not the next week's).
- The choice among the candidates that meet the budget: the most labelled attacks detected (when
  there are labels), then the fewest consecutive windows (the fastest alarm), then the lowest
  threshold. When none meets it, the fewest false alarms (then the same order), marked not met.
- Set metrics (listening ports, destination addresses): the set of values the profile's normal
  things reported (``ReplayResult.observed``).
- Behaviors that are not tuned (statistical, "at least" operators, no windows) are kept as they are,
  with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from detect_lab.replay.history import Windows
from detect_lab.replay.result import SetObservations
from detect_lab.tune.streaks import MAX_CONSECUTIVE, Series, alarm_times, count_alarms
from iot_defender_runtime.detect_evaluator.stream_time import fills_empty
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.detect_profiles import DetectProfiles, ProfileBehavior
from iot_defender_runtime.model.metric_catalog import ValueKind

MIN_TARGET, MAX_TARGET = 0.001, 1000.0
DEFAULT_HEADROOM = 1.25
MULTIPLIERS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0)
UPPER_OPERATORS = {"less-than-equals": False, "less-than": True}  # operator -> a window at the limit violates
SET_OPERATORS = {"in-port-set": "ports", "in-cidr-set": "cidrs", "in-set": "strings"}
REPORT_SECONDS = 300.0


class TuningError(ValueError):
    """A bad tuning argument; the message names it and says what is allowed."""


def check_target(target_false_alarms: Any) -> float:
    """The target false alarm rate, checked: a number from 0.001 to 1000 per 1,000 device-days."""
    value = target_false_alarms
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        ok = False
    else:
        ok = MIN_TARGET <= value <= MAX_TARGET
    if not ok:
        raise TuningError(
            f"target_false_alarms {value!r} must be a number from {MIN_TARGET:g} to {MAX_TARGET:g} "
            "(false alarms per 1,000 device-days)"
        )
    return float(value)


def check_headroom(headroom: Any) -> float:
    if isinstance(headroom, bool) or not isinstance(headroom, int | float) or not 1.0 <= headroom <= 10.0:
        raise TuningError(f"headroom {headroom!r} must be a number from 1 to 10 (1.25: 25 % more traffic)")
    return float(headroom)


@dataclass(frozen=True)
class Candidate:
    """One point of the trade-off: false alarms over the normal windows, and, with labels, the
    attacks on the behavior's metric it detects (``detected`` of ``attacks``; None without labels)."""

    threshold: float
    consecutive: int
    false_alarms: int
    false_alarms_per_1000_device_days: float
    detected: int | None = None
    attacks: int = 0


@dataclass(frozen=True)
class Proposal:
    """The tuner's answer for one behavior of one profile.

    :ivar current: the behavior as given; ``proposed``: as the tuner proposes it (the same when not tuned).
    :ivar candidates: the trade-off table (empty for set metrics and behaviors not tuned).
    :ivar chosen: the candidate proposed; None for set metrics and behaviors not tuned.
    :ivar met: whether the chosen candidate meets ``budget``.
    :ivar normal_values: the normal windows' values (for the distribution chart).
    :ivar set_values: the set proposed, for a set metric.
    :ivar note: why a behavior was not tuned, or what the proposal rests on.
    """

    profile: str
    current: BehaviorDefinition
    proposed: BehaviorDefinition
    budget: float
    device_days: float
    candidates: tuple[Candidate, ...] = ()
    chosen: Candidate | None = None
    met: bool = True
    normal_values: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False, repr=False)
    set_values: tuple[Any, ...] = ()
    note: str = ""

    @property
    def behavior(self) -> str:
        return self.current.name

    @property
    def current_threshold(self) -> float | None:
        return _threshold(self.current)

    @property
    def proposed_threshold(self) -> float | None:
        return _threshold(self.proposed)


@dataclass(frozen=True)
class Tuning:
    """Every proposal, and the tuned behaviors as profiles (the same targets as the input's)."""

    target_false_alarms: float
    headroom: float
    proposals: tuple[Proposal, ...]
    source: DetectProfiles

    def profiles(self) -> DetectProfiles:
        """The input profiles with each behavior replaced by its proposal."""
        proposed = {(p.profile, p.behavior): p.proposed for p in self.proposals}
        return DetectProfiles(
            tuple(
                replace(b, definition=proposed.get((b.profile, b.definition.name), b.definition))
                for b in self.source.behaviors
            )
        )

    def proposal(self, profile: str, behavior: str) -> Proposal:
        return next(p for p in self.proposals if p.profile == profile and p.behavior == behavior)


def _threshold(definition: BehaviorDefinition) -> float | None:
    value = definition.value or {}
    number = value.get("count", value.get("number"))
    return float(number) if isinstance(number, int | float) else None


def profile_device_days(windows: Windows) -> dict[str, float]:
    """Per profile: the things with a window times the days its windows span (as ``detect_lab.sql`` counts them)."""
    found = {}
    for profile in sorted(set(windows.profile)):
        mask = windows.profile == profile
        things = len(set(windows.thing[mask]))
        found[profile] = things * float(windows.end[mask].max() - windows.start[mask].min()) / 86_400
    return found


def budgets(profiles: DetectProfiles, target: float) -> dict[tuple[str, str], float]:
    """Each behavior's share of the target: the target over the number of behaviors in its profile."""
    return {(b.profile, b.definition.name): target / len(profiles.by_profile[b.profile]) for b in profiles.behaviors}


def tune(
    windows: Windows,
    profiles: DetectProfiles,
    *,
    target_false_alarms: float,
    labels: Sequence[Any] = (),
    observed: SetObservations | None = None,
    things: Mapping[str, frozenset[str]] | None = None,
    device_days: Mapping[str, float] | None = None,
    headroom: float = DEFAULT_HEADROOM,
) -> Tuning:
    """Propose each behavior of ``profiles`` from the normal ``windows`` (see the module docstring).

    :param labels: ``AttackLabel``s: their windows are not normal, and they score the candidates.
    :param observed: set-metric values per thing (``ReplayResult.observed``), for set behaviors.
    :param things: each thing's thing groups (``ReplayResult.things``): which things a profile targets,
        for set behaviors. Default: every observed thing.
    :param device_days: per profile. Default: ``profile_device_days(windows)``.
    :raises TuningError: for a target or headroom out of range.
    """
    target = check_target(target_false_alarms)
    headroom = check_headroom(headroom)
    days = dict(device_days) if device_days is not None else profile_device_days(windows)
    shares = budgets(profiles, target)
    proposals = []
    for behavior in profiles.behaviors:
        budget = shares[(behavior.profile, behavior.definition.name)]
        profile_days = days.get(behavior.profile, 0.0)
        if behavior.definition.comparison_operator in SET_OPERATORS:
            proposals.append(_tune_set(behavior, observed, things, budget, profile_days))
        else:
            proposals.append(_tune_numeric(windows, behavior, labels, budget, profile_days, headroom))
    return Tuning(target, headroom, tuple(proposals), profiles)


def untuned(behavior: ProfileBehavior, budget: float, device_days: float, note: str) -> Proposal:
    d = behavior.definition
    return Proposal(behavior.profile, d, d, budget, device_days, note=note)


def _tune_numeric(
    windows: Windows, behavior: ProfileBehavior, labels: Sequence[Any], budget: float, days: float, headroom: float
) -> Proposal:
    definition = behavior.definition
    if definition.kind is not BehaviorKind.RULE or definition.comparison_operator not in UPPER_OPERATORS:
        return untuned(behavior, budget, days, "not tuned: only 'at most' rule behaviors are")
    if definition.duration_seconds is None or behavior.spec.value_kind is not ValueKind.COUNT:
        return untuned(behavior, budget, days, "not tuned: only windowed counts are")
    mask = (windows.profile == behavior.profile) & (windows.behavior == definition.name)
    own = windows.take(np.flatnonzero(mask))
    series, normal_values = normal_series(own, behavior, labels)
    if days <= 0 or normal_values.size == 0:
        return untuned(behavior, budget, days, "not tuned: no normal windows recorded")
    strict = UPPER_OPERATORS[definition.comparison_operator]
    table = []
    attacked = _attacked_windows(own, behavior, labels)
    for threshold in candidate_thresholds(normal_values, _threshold(definition)):
        grown = series.value * headroom
        violating = grown >= threshold if strict else grown > threshold
        alarms = count_alarms(series, violating)
        for k in range(1, MAX_CONSECUTIVE + 1):
            detected = _detected(attacked, behavior, threshold, k, strict) if labels else None
            count = int(alarms[k - 1])
            table.append(
                Candidate(threshold, k, count, 1000.0 * count / days, detected, len(attacked) if labels else 0)
            )
    chosen = choose(table, budget)
    proposed = replace(
        definition, value={"count": int(chosen.threshold)}, consecutive_datapoints_to_alarm=chosen.consecutive
    )
    met = chosen.false_alarms_per_1000_device_days <= budget
    note = f"{normal_values.size} normal windows, peak {normal_values.max():g}"
    return Proposal(
        behavior.profile, definition, proposed, budget, days, tuple(table), chosen, met, normal_values, note=note
    )


def candidate_thresholds(normal_values: np.ndarray, current: float | None) -> list[float]:
    """The current threshold and ``ceil(peak x m)`` for each multiplier, once each, ascending."""
    peak = float(normal_values.max())
    found = {float(math.ceil(peak * m)) for m in MULTIPLIERS}
    if current is not None:
        found.add(float(current))
    return sorted(found)


def choose(table: Sequence[Candidate], budget: float) -> Candidate:
    """The candidate to propose (module docstring): meeting the budget, most detected, fewest
    consecutive windows, lowest threshold; else the fewest false alarms in the same order."""

    def order(c: Candidate) -> tuple[Any, ...]:
        meets = c.false_alarms_per_1000_device_days <= budget
        return (not meets, 0 if meets else c.false_alarms, -(c.detected or 0), c.consecutive, c.threshold)

    return min(table, key=order)


def normal_series(own: Windows, behavior: ProfileBehavior, labels: Sequence[Any]) -> tuple[Series, np.ndarray]:
    """The behavior's windows sorted by thing and start, without those of labelled attacks."""
    order = np.lexsort((own.start, own.thing))
    things, starts, ends, values = own.thing[order], own.start[order], own.end[order], own.value[order]
    codes = np.unique(things, return_inverse=True)[1] if things.size else np.zeros(0, dtype=np.int64)
    first = np.r_[True, codes[1:] != codes[:-1]] if codes.size else np.zeros(0, dtype=bool)
    index = np.arange(codes.size)
    pos = index - np.maximum.accumulate(np.where(first, index, 0))
    excluded = _in_attacks(things, starts, ends, labels)
    removed = _cumulative_per_thing(excluded.astype(np.int64), first)
    keep = ~excluded
    definition = behavior.definition
    series = Series(
        codes[keep],
        pos[keep],
        starts[keep],
        values[keep],
        removed[keep],
        int(definition.duration_seconds or 0),
        fills_empty(behavior),
        definition.consecutive_datapoints_to_clear,
    )
    return series, values[keep]


def _cumulative_per_thing(flags: np.ndarray, first: np.ndarray) -> np.ndarray:
    total = np.cumsum(flags)
    before = total - flags  # the running total before each row
    base = np.maximum.accumulate(np.where(first, before, 0))
    return total - base


def _in_attacks(things: np.ndarray, starts: np.ndarray, ends: np.ndarray, labels: Sequence[Any]) -> np.ndarray:
    excluded = np.zeros(things.size, dtype=bool)
    for label in labels:
        excluded |= (things == label.thing) & (starts < label.end) & (ends > label.start)
    return excluded


@dataclass(frozen=True)
class _Attacked:
    label: Any
    starts: np.ndarray
    values: np.ndarray


def _attacked_windows(own: Windows, behavior: ProfileBehavior, labels: Sequence[Any]) -> list[_Attacked]:
    """The windows around each labelled attack on this behavior's metric (from 12 windows before its
    start, judged from a clean state) on a thing the profile recorded."""
    found = []
    metric = behavior.definition.metric
    lead = 12 * float(behavior.definition.duration_seconds or REPORT_SECONDS)
    for label in labels:
        if metric not in label.metrics:
            continue
        mask = (own.thing == label.thing) & (own.start >= label.start - lead)
        if not mask.any():
            continue
        order = np.argsort(own.start[mask], kind="stable")
        found.append(_Attacked(label, own.start[mask][order], own.value[mask][order]))
    return found


def _detected(attacked: list[_Attacked], behavior: ProfileBehavior, threshold: float, k: int, strict: bool) -> int:
    definition = behavior.definition
    duration = int(definition.duration_seconds or REPORT_SECONDS)
    detected = 0
    for item in attacked:
        violating = item.values >= threshold if strict else item.values > threshold
        times = alarm_times(
            item.starts.tolist(),
            violating.tolist(),
            duration=duration,
            fill=fills_empty(behavior),
            k=k,
            clear=definition.consecutive_datapoints_to_clear,
        )
        horizon = item.label.end + duration * (1 + k)
        detected += any(item.label.start <= t <= horizon for t in times)
    return detected


def _tune_set(
    behavior: ProfileBehavior,
    observed: SetObservations | None,
    things: Mapping[str, frozenset[str]] | None,
    budget: float,
    days: float,
) -> Proposal:
    definition = behavior.definition
    if observed is None:
        return untuned(behavior, budget, days, "not tuned: no set values observed (replay with observe_sets)")
    targets = behavior.targets
    seen: set[Any] = set()
    for (thing, metric), values in observed.values.items():
        if metric != definition.metric:
            continue
        groups = things.get(thing) if things is not None else None
        if things is not None and not (targets.everything or targets.watches(groups)):
            continue
        seen.update(values)
    if not seen:
        return untuned(behavior, budget, days, "not tuned: no normal thing reported a value")
    field_name = SET_OPERATORS[definition.comparison_operator or ""]
    values = tuple(sorted(seen, key=str)) if field_name != "cidrs" else tuple(sorted(_as_cidr(v) for v in seen))
    proposed = replace(definition, value={field_name: list(values)})
    note = f"the {len(values)} values normal things reported"
    return Proposal(behavior.profile, definition, proposed, budget, days, set_values=values, note=note)


def _as_cidr(address: str) -> str:
    if "/" in address:
        return address
    return f"{address}/128" if ":" in address else f"{address}/32"


def tune_replay(
    result: Any,
    *,
    target_false_alarms: float,
    labels: Sequence[Any] = (),
    headroom: float = DEFAULT_HEADROOM,
) -> Tuning:
    """``tune`` over a ``ReplayResult`` (replayed with ``observe_sets=True`` for set behaviors): its
    windows, set values, things, and each profile's device-days (the things it targets x the days)."""
    windows = Windows.from_history(result.history)
    days = (result.end - result.start) / 86_400
    device_days = {}
    for profile, behaviors in result.profiles.by_profile.items():
        targets = behaviors[0].targets
        watched = [t for t, groups in result.things.items() if targets.everything or targets.watches(groups)]
        device_days[profile] = len(watched) * days
    return tune(
        windows,
        result.profiles,
        target_false_alarms=target_false_alarms,
        labels=labels,
        observed=result.observed,
        things=result.things,
        device_days=device_days,
        headroom=headroom,
    )
