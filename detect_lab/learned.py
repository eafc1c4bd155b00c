"""Learned behaviors (self-hosted ML Detect) in the lab: train models on a simulated fleet's window
history, then replay an evaluation fleet with them and score the alarms against its attack labels.

    models = train_models(simulate(FleetSpec(things=500, days=14, seed=1)), learned_profiles(classes))
    result = replay_with_models(simulate(FleetSpec(..., seed=2, attacks=...)), profiles, models)

Training runs the evaluator's own code over the training fleet (no model yet: every ML window closes
unjudged and is recorded, as the window history records it), then the trainer's own functions
(``evaluation.learned``) over those windows: the same statistics the Athena query computes in AWS.
The ML behaviors carry no threshold: one per ML Detect metric the simulated attacks touch, per device
class profile (ML Detect works best per group of devices with similar behavior, the guide says:
https://docs.aws.amazon.com/iot-device-defender/latest/devguide/dd-detect-ml.html).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from detect_lab.behaviors import class_profiles
from detect_lab.replay.fleet import Fleet, replay_fleet
from detect_lab.replay.parallel import replay_in_parts
from detect_lab.replay.result import ReplayResult
from detect_lab.scoring import Score, score_replay
from detect_lab.simulator import FleetSpec, simulate
from iot_defender_runtime.evaluation.learned import (
    TrainingData,
    aggregate,
    datapoints_of,
    min_spread_of,
    train,
    training_span,
    training_stats,
)
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.detect_profiles import DetectProfiles
from iot_defender_runtime.model.learned_model import CorruptModelError, LearnedModel, model_key

# The ML Detect metrics the simulator's attacks are abnormal in (a new destination IP shows only in
# aws:destination-ip-addresses, a list metric ML Detect does not support).
LEARNED_METRICS = (
    "aws:num-messages-sent",
    "aws:num-authorization-failures",
    "aws:num-listening-tcp-ports",
    "aws:all-bytes-out",
    "aws:all-packets-out",
    "aws:num-connection-attempts",
    "aws:num-disconnects",
)


def learned_behaviors(confidence: str = "HIGH") -> tuple[BehaviorDefinition, ...]:
    """One ML behavior per metric of ``LEARNED_METRICS``: no threshold, no duration."""
    return tuple(
        BehaviorDefinition(
            name=f"learned-{metric.removeprefix('aws:')}", metric=metric, kind=BehaviorKind.ML, confidence=confidence
        )
        for metric in LEARNED_METRICS
    )


def learned_profiles(device_classes: Sequence[str], confidence: str = "HIGH") -> DetectProfiles:
    """``learned_behaviors`` in one profile per device class."""
    return class_profiles({name: learned_behaviors(confidence) for name in device_classes})


class MemoryModels:
    """The evaluator's ``ModelStore`` in memory (and the trainer's ``ModelWriter``)."""

    def __init__(self, models: Iterable[LearnedModel] = ()) -> None:
        self.models = {model_key(m.profile, m.behavior): m for m in models}

    def get_many(self, keys: list[str]) -> dict[str, LearnedModel | CorruptModelError]:
        return {key: self.models[key] for key in keys if key in self.models}

    def put(self, model: LearnedModel) -> None:
        self.models[model_key(model.profile, model.behavior)] = model

    def item_bytes(self) -> dict[str, int]:
        """Each model's state table item, in bytes of its JSON."""
        return {key: len(json.dumps(model.to_item()).encode()) for key, model in self.models.items()}


def models_from_windows(
    rows: Iterable[tuple[str, str, str, float, float]], profiles: DetectProfiles, now: float
) -> MemoryModels:
    """Models of every learned behavior of ``profiles`` from ``(profile, behavior, thing, window start,
    value)`` rows of the trailing 14 days, as the daily trainer builds them at ``now`` (the same
    statistics as its Athena query, the same datapoint count towards the minimum)."""
    start, end = training_span(now)
    grouped: dict[tuple[str, str], list[tuple[str, float, float]]] = defaultdict(list)
    things: dict[str, set[str]] = defaultdict(set)
    first: dict[str, float] = {}
    for profile, behavior, thing, window_start, value in rows:
        if start <= window_start < end:
            grouped[(profile, behavior)].append((thing, window_start, value))
            things[profile].add(thing)
            first[profile] = min(first.get(profile, window_start), window_start)
    store = MemoryModels()
    for behavior in profiles.behaviors:
        if behavior.definition.kind is not BehaviorKind.ML:
            continue
        windows = grouped.get((behavior.profile, behavior.definition.name), [])
        stats, count = aggregate(windows, min_spread_of(behavior.spec)) if windows else ({}, 0)
        earliest = first.get(behavior.profile)
        data = TrainingData(stats, count, earliest, len(things[behavior.profile]))
        store.put(
            train(
                None,
                profile=behavior.profile,
                behavior=behavior.definition.name,
                metric=behavior.definition.metric,
                stats=training_stats(data, behavior.spec),
                datapoints=datapoints_of(data, behavior.spec, end - start),
                earliest=earliest,
                now=now,
            )
        )
    return store


def train_models(fleet: Fleet, profiles: DetectProfiles) -> tuple[MemoryModels, float]:
    """Replay the training fleet (no models: every ML window is recorded unjudged) and train on its
    windows at the fleet's end; returns the models and the seconds training took (replay excluded)."""
    replay = replay_with_models(fleet, profiles, MemoryModels())
    columns = replay.history.columns()
    rows = zip(
        columns["profile"],
        columns["behavior"],
        columns["thing_name"],
        columns["window_start"],
        columns["value"],
        strict=True,
    )
    started = time.perf_counter()
    models = models_from_windows(rows, profiles, fleet.spec.end)
    return models, time.perf_counter() - started


def replay_with_models(fleet: Fleet, profiles: DetectProfiles, models: MemoryModels) -> ReplayResult:
    """``detect_lab.replay.replay_fleet`` with the learned behaviors' ``models``."""
    return replay_fleet(fleet, profiles, models=models)


def draw_band(
    model: LearnedModel,
    points: Sequence[tuple[float, float]],
    attacks: Sequence[tuple[float, float]],
    path: Path,
    *,
    start: float,
    confidence: str = "HIGH",
    days: int = 7,
) -> Path:
    """A week of a model's upper bound of normal (per hour slot, at ``confidence``) from ``start``, with the
    values ``points`` (time, value) the evaluator judged and the ``attacks`` (start, end) shaded: a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 3.6), dpi=110)
    axis = figure.add_subplot()
    hours = [start + 3600 * h for h in range(days * 24 + 1)]
    horizon = model.last_refresh if model.last_refresh is not None else start
    bounds = [model.upper(confidence, t, horizon) for t in hours]
    axis.step(
        [(t - start) / 86_400 for t in hours],
        [b if b is not None else float("nan") for b in bounds],
        where="post",
        color="tab:blue",
        label=f"upper bound of normal ({confidence})",
    )
    shown = [(t, v) for t, v in points if start <= t < start + days * 86_400]
    axis.scatter([(t - start) / 86_400 for t, _ in shown], [v for _, v in shown], s=3, color="0.35", label="judged")
    for first, last in attacks:
        axis.axvspan((first - start) / 86_400, (last - start) / 86_400, color="tab:red", alpha=0.25)
    axis.set_xlabel("days from Monday 00:00 UTC (attacks shaded red)")
    axis.set_ylabel(model.metric)
    axis.set_yscale("symlog")
    axis.set_title(f"{model.profile} / {model.behavior}: the learned band over a week")
    axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


# Attacks no learned behavior can see: a new destination shows only in a list metric, which ML Detect
# does not take (https://docs.aws.amazon.com/iot-device-defender/latest/devguide/dd-detect-ml.html).
ML_BLIND_ATTACKS = frozenset({"new-destination-ip"})


@dataclass(frozen=True)
class LearnedOutcome:
    """Learned behaviors trained on one fleet and judging another: the evaluation replay, its score,
    the models, and how long training took (replay of the training fleet included)."""

    replay: ReplayResult
    score: Score
    models: MemoryModels
    train_seconds: float

    def learnable_recall(self) -> float | None:
        """Recall over the attacks a metric ML Detect supports shows."""
        seen = [d for d in self.score.detections if d.kind not in ML_BLIND_ATTACKS]
        return sum(d.detected for d in seen) / len(seen) if seen else None


def train_and_evaluate(
    training: FleetSpec, evaluation: FleetSpec, profiles: DetectProfiles, parts: int | None = None
) -> LearnedOutcome:
    """Replay ``training`` (no model yet: ML windows are recorded unjudged; in parts side by side), train
    at its end, then replay ``evaluation`` with the models and score it against its labels."""
    started = time.perf_counter()
    history = replay_in_parts(training, profiles, parts=parts).history.columns()
    rows = zip(
        history["profile"],
        history["behavior"],
        history["thing_name"],
        history["window_start"],
        history["value"],
        strict=True,
    )
    models = models_from_windows(rows, profiles, training.end)
    train_seconds = time.perf_counter() - started
    fleet = simulate(evaluation)
    replay = replay_fleet(fleet, profiles, models=models)
    return LearnedOutcome(replay, score_replay(replay, fleet.labels), models, train_seconds)


def storm_band_chart(outcome: LearnedOutcome, evaluation: FleetSpec, path: Path) -> Path | None:
    """A week of the messages-sent model of the first storm-attacked thing's class, with that thing's
    judged windows and its attacks shaded (None when the fleet has no storm or no such model)."""
    labels = simulate(evaluation).labels
    storm = next((label for label in labels if label.kind.value == "message-storm"), None)
    if storm is None:
        return None
    profile, behavior = storm.thing.split("-")[0], "learned-num-messages-sent"
    model = outcome.models.models.get(model_key(profile, behavior))
    if not isinstance(model, LearnedModel):
        return None
    columns = outcome.replay.history.columns()
    points = [
        (float(start), float(value))
        for thing, name, start, value in zip(
            columns["thing_name"], columns["behavior"], columns["window_start"], columns["value"], strict=True
        )
        if thing == storm.thing and name == behavior
    ]
    attacks = [(label.start, label.end) for label in labels if label.thing == storm.thing]
    return draw_band(model, points, attacks, path, start=evaluation.start)
