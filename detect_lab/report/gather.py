"""From what the lab computed to what the report draws: scores (``detect_lab.scoring``) to the table's
figures, the tuner's proposals (``detect_lab.tune``) to each behavior's charts, a replay's alarms and
the attack labels to the fleet's timeline."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from detect_lab.replay.history import Windows
from detect_lab.replay.result import Alarm, SetObservations
from detect_lab.report.model import (
    AlarmSpan,
    AttackSpan,
    BehaviorView,
    Panel,
    Score,
    Threshold,
    Timeline,
    TradeoffPoint,
)
from detect_lab.scoring import BehaviorScore
from detect_lab.scoring import Score as LabScore
from detect_lab.tune import Proposal, Tuning
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition
from iot_defender_runtime.model.detect_profiles import ProfileTargets

_OPERATORS = {"less-than": "<", "less-than-equals": "<=", "greater-than": ">", "greater-than-equals": ">="}
MAX_SET_LABEL = 6  # values of a set written out in a threshold's label


def overall(score: LabScore) -> Score:
    """A replay's figures, all behaviors together."""
    return Score(
        score.attacks,
        score.detected,
        score.false_alarms,
        score.device_days,
        score.time_to_detect_median,
        score.time_to_detect_max,
        score.alarms,
        len({d.thing for d in score.detections if d.detected}),
    )


def behavior_score(score: BehaviorScore, device_days: float) -> Score:
    return Score(
        score.attacks,
        score.detected,
        score.false_alarms,
        device_days,
        score.time_to_detect_median,
        score.time_to_detect_max,
        score.alarms,
        score.devices_in_alarm,
    )


def threshold(definition: BehaviorDefinition) -> Threshold:
    """How a behavior's criteria read (``<= 1000 per 5 min, 2 windows``), and the number or set a chart marks."""
    value = next(iter((definition.value or {}).values()), None)
    operator = definition.comparison_operator or ""
    windows = definition.consecutive_datapoints_to_alarm
    tail = f", {windows} windows" if windows > 1 else ""
    if isinstance(value, list | tuple):
        shown = ", ".join(str(v) for v in value[:MAX_SET_LABEL]) + (", ..." if len(value) > MAX_SET_LABEL else "")
        return Threshold(f"{operator} {shown}{tail}", allowed=tuple(str(v) for v in value))
    per = f" per {definition.duration_seconds // 60} min" if definition.duration_seconds else ""
    number = float(value) if isinstance(value, int | float) else None
    return Threshold(
        f"{_OPERATORS.get(operator, operator)} {value:g}{per}{tail}" if number is not None else operator, number
    )


def behavior_views(
    untuned: LabScore,
    tuned: LabScore,
    tuning: Tuning,
    windows: Windows,
    labels: Sequence[Any],
    observed: SetObservations | None,
    things: Mapping[str, frozenset[str]],
) -> tuple[BehaviorView, ...]:
    """One view per behavior of the tuned set (the reference app's behaviors first), with a panel per
    profile from the tuning run."""
    names = [b.behavior for b in untuned.behaviors] + [
        b.behavior for b in tuned.behaviors if b.behavior not in {u.behavior for u in untuned.behaviors}
    ]
    views = []
    for name in names:
        before = next((b for b in untuned.behaviors if b.behavior == name), None)
        after = next((b for b in tuned.behaviors if b.behavior == name), None)
        proposals = [p for p in tuning.proposals if p.behavior == name]
        source = before or after
        metric = source.metric if source is not None else ""
        views.append(
            BehaviorView(
                name,
                metric,
                behavior_score(before, untuned.device_days) if before else None,
                behavior_score(after, tuned.device_days) if after else None,
                tuple(_panel(p, tuning, windows, labels, observed, things) for p in proposals),
            )
        )
    return tuple(views)


def _panel(
    proposal: Proposal,
    tuning: Tuning,
    windows: Windows,
    labels: Sequence[Any],
    observed: SetObservations | None,
    things: Mapping[str, frozenset[str]],
) -> Panel:
    today, proposed = threshold(proposal.current), threshold(proposal.proposed)
    if proposal.current.comparison_operator in ("in-port-set", "in-cidr-set", "in-set"):
        targets = tuning.source.by_profile[proposal.profile][0].targets
        categories = _categories(proposal.current.metric, targets, observed, things)
        return Panel(proposal.profile, categories=categories, today=today, proposed=proposed)
    return Panel(
        proposal.profile,
        normal_values=tuple(float(v) for v in proposal.normal_values),
        attack_values=attack_values(windows, proposal.profile, proposal.behavior, labels),
        today=today,
        proposed=proposed,
        tradeoff=tuple(
            TradeoffPoint(c.threshold, c.consecutive, c.false_alarms_per_1000_device_days, c.detected or 0, c.attacks)
            for c in proposal.candidates
        ),
    )


def attack_values(windows: Windows, profile: str, behavior: str, labels: Sequence[Any]) -> tuple[float, ...]:
    """The values of the behavior's windows that overlap an attack on their thing, on a metric the
    attack shows in."""
    own = (windows.profile == profile) & (windows.behavior == behavior)
    hit = np.zeros(len(windows), dtype=bool)
    for label in labels:
        hit |= (
            own
            & (windows.thing == label.thing)
            & np.isin(windows.metric, list(label.metrics))
            & (windows.start < label.end)
            & (windows.end > label.start)
        )
    return tuple(float(v) for v in windows.value[hit])


def _categories(
    metric: str, targets: ProfileTargets, observed: SetObservations | None, things: Mapping[str, frozenset[str]]
) -> tuple[tuple[str, int, int], ...]:
    """How often the profile's things reported each value of the metric outside attacks (as the replay
    observed them)."""
    if observed is None:
        return ()
    counts: Counter[str] = Counter()
    for (thing, observed_metric), values in observed.values.items():
        if observed_metric == metric and (targets.everything or targets.watches(things.get(thing))):
            counts.update({str(value): n for value, n in values.items()})
    return tuple((value, n, 0) for value, n in counts.most_common())


def timeline(title: str, start: float, end: float, alarms: Iterable[Alarm], score: LabScore) -> Timeline:
    """The fleet's alarms and its attacks, each marked detected as ``score`` judged it."""
    return Timeline(
        title,
        start,
        end,
        tuple(AlarmSpan(a.thing, a.behavior, a.start, a.end) for a in alarms),
        tuple(AttackSpan(d.attack_id, d.kind, d.thing, d.start, d.end, d.detected) for d in score.detections),
    )
