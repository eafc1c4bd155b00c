"""One training run: for each learned behavior of each profile, the trailing 14 days' statistics from the
history (``HistoryStats``: Athena in the Lambda, the simulated windows in the Detect lab), the model
after today's run (``evaluation.learned.train``), written to the model store.

A behavior fails alone: an Athena error leaves its stored model as it was (it expires if that goes on
for 30 days), a stored item that cannot be read is rebuilt as if there were none, and the other
behaviors are trained. A model given up after 30 days of retries is not queried again.

A run has a deadline (the function's timeout): behaviors are trained stalest first (never refreshed,
then the oldest refresh), and those the run has no time left for are reported as failed, so they go
first the next day instead of being skipped day after day until they expire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from iot_defender_runtime.evaluation.learned import (
    TrainingData,
    datapoints_of,
    min_spread_of,
    train,
    training_span,
    training_stats,
)
from iot_defender_runtime.model.behavior_definition import BehaviorKind
from iot_defender_runtime.model.detect_profiles import DetectProfiles, ProfileBehavior
from iot_defender_runtime.model.learned_model import (
    REASON_GAVE_UP,
    CorruptModelError,
    LearnedModel,
    model_key,
)


class HistoryStats(Protocol):
    def statistics(self, profile: str, behavior: str, start: float, end: float, floor: float) -> TrainingData:
        """The behavior's training data from its windows starting in ``[start, end)``, trimmed with the
        spread's ``floor``."""
        ...


class ModelWriter(Protocol):
    def get_many(self, keys: list[str]) -> dict[str, LearnedModel | CorruptModelError]: ...

    def put(self, model: LearnedModel) -> None: ...


@dataclass
class TrainingRun:
    """What a run did: the models it wrote, the behaviors it could not train (name -> why), the
    unreadable items it replaced."""

    models: list[LearnedModel] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    replaced_corrupt: list[str] = field(default_factory=list)


def learned_behaviors(profiles: DetectProfiles) -> list[ProfileBehavior]:
    return [b for b in profiles.behaviors if b.definition.kind is BehaviorKind.ML]


MIN_SECONDS_PER_BEHAVIOR = 60.0  # a behavior is not started with less time left than this


def train_all(
    profiles: DetectProfiles,
    history: HistoryStats,
    store: ModelWriter,
    now: float,
    time_left: Callable[[], float] | None = None,
) -> TrainingRun:
    """Train every learned behavior, stalest first; ``time_left``: seconds left in this run (none: no limit)."""
    behaviors = learned_behaviors(profiles)
    stored = store.get_many([model_key(b.profile, b.definition.name) for b in behaviors])
    run = TrainingRun()
    start, end = training_span(now)
    for behavior in sorted(behaviors, key=lambda b: _staleness(stored.get(model_key(b.profile, b.definition.name)))):
        key = model_key(behavior.profile, behavior.definition.name)
        if time_left is not None and time_left() < MIN_SECONDS_PER_BEHAVIOR:
            run.failed[key] = "not trained: this run ran out of time; it is trained first in the next run"
            continue
        previous = stored.get(key)
        if isinstance(previous, CorruptModelError):
            run.replaced_corrupt.append(key)
            previous = None
        if previous is not None and previous.reason == REASON_GAVE_UP and previous.last_refresh is None:
            run.models.append(previous)
            continue
        try:
            floor = min_spread_of(behavior.spec)
            data = history.statistics(behavior.profile, behavior.definition.name, start, end, floor)
        except Exception as error:  # one behavior's failure (Athena, throttling) must not stop the others
            run.failed[key] = f"{type(error).__name__}: {error}"
            continue
        model = train(
            previous,
            profile=behavior.profile,
            behavior=behavior.definition.name,
            metric=behavior.definition.metric,
            stats=training_stats(data, behavior.spec),
            datapoints=datapoints_of(data, behavior.spec, end - start),
            earliest=data.earliest,
            now=now,
        )
        store.put(model)
        run.models.append(model)
    return run


def _staleness(previous: LearnedModel | CorruptModelError | None) -> float:
    """Sort key: a model never refreshed (or unreadable) first, then the oldest refresh."""
    if not isinstance(previous, LearnedModel) or previous.last_refresh is None:
        return float("-inf")
    return previous.last_refresh
