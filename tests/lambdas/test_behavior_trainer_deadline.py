"""A training run within its deadline: behaviors stalest first, those the run has no time for reported
as failed (first in the next run), and an Athena query still running near the deadline stopped, so the
run ends before the function's timeout and its metrics are published."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iot_defender_runtime.adapters.history_query import AthenaHistory, HistoryQueryError
from iot_defender_runtime.behavior_trainer.training import train_all
from iot_defender_runtime.evaluation.learned import TrainingData
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.detect_profiles import DetectProfiles
from iot_defender_runtime.model.learned_model import ACTIVE, DAY, LearnedModel, model_key

NOW = 1_800_000_000.0
NAMES = ("Fresh", "Never", "Stale")


def _profiles() -> DetectProfiles:
    behaviors = [
        BehaviorDefinition(name=name, metric="aws:num-messages-sent", kind=BehaviorKind.ML, confidence="HIGH")
        for name in NAMES
    ]
    return DetectProfiles.from_json(
        json.dumps({"profiles": [{"name": "fleet", "behaviors": [b.to_api() for b in behaviors]}]})
    )


class _Store:
    def __init__(self) -> None:
        refreshed = {"Fresh": NOW - DAY, "Stale": NOW - 3 * DAY}
        self.items = {
            model_key("fleet", name): LearnedModel(
                "fleet", name, "aws:num-messages-sent", ACTIVE, NOW - 20 * DAY, 1, at
            )
            for name, at in refreshed.items()
        }
        self.written: list[str] = []

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        return {key: self.items[key] for key in keys if key in self.items}

    def put(self, model: LearnedModel) -> None:
        self.written.append(model.behavior)


class _History:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def statistics(self, profile: str, behavior: str, start: float, end: float, floor: float) -> TrainingData:
        self.asked.append(behavior)
        return TrainingData({}, 0, None, 0)


def test_stalest_first_and_what_the_run_has_no_time_for_fails_alone() -> None:
    left = iter([900.0, 300.0, 45.0])  # seconds left before each behavior
    history, store = _History(), _Store()
    run = train_all(_profiles(), history, store, NOW, time_left=lambda: next(left))
    assert history.asked == ["Never", "Stale"]  # never refreshed, then the oldest refresh
    assert store.written == ["Never", "Stale"]
    assert list(run.failed) == [model_key("fleet", "Fresh")]
    assert "ran out of time" in run.failed[model_key("fleet", "Fresh")]


class _RunningAthena:
    """An Athena client whose query never finishes."""

    def __init__(self) -> None:
        self.stopped: list[str] = []

    def start_query_execution(self, **_: Any) -> dict[str, str]:
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:  # noqa: N803 (boto3's name)
        return {"QueryExecution": {"Status": {"State": "RUNNING"}}}

    def stop_query_execution(self, QueryExecutionId: str) -> None:  # noqa: N803
        self.stopped.append(QueryExecutionId)


def test_a_query_still_running_near_the_deadline_is_stopped() -> None:
    athena = _RunningAthena()
    left = iter([120.0, 60.0, 20.0])
    history = AthenaHistory("wg", "db", "windows", sleep=lambda _: None, time_left=lambda: next(left), athena=athena)
    with pytest.raises(HistoryQueryError, match="the run is ending: stopped"):
        history.statistics("fleet", "Storm", NOW - 14 * DAY, NOW, 1.0)
    assert athena.stopped == ["q-1"]
