"""The daily trainer and the evaluator on moto: Athena answers the trainer's statistics query (moto runs
no SQL, so the rows are those the query gives on DuckDB for the same windows, see
tests/evaluation/test_learned_sql.py), the models land in the state table, and the evaluator judges ML
behaviors with them: an ML alert for a storm, nothing for a behavior whose model is still collecting,
and a corrupt model item that leaves its behavior unjudged and the others judged."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto.athena.models import QueryResults, athena_backends

from iot_defender_runtime.adapters.history_query import COLUMNS
from iot_defender_runtime.adapters.model_store import LearnedModels
from iot_defender_runtime.behavior_trainer import config as trainer_config
from iot_defender_runtime.behavior_trainer.handler import train_now
from iot_defender_runtime.behavior_trainer.training import train_all
from iot_defender_runtime.detect_evaluator import handler as evaluator
from iot_defender_runtime.evaluation.learned import Level, SlotStats, TrainingData, aggregate
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.model.detect_profiles import DetectProfiles
from iot_defender_runtime.model.learned_model import DAY, CorruptModelError, LearnedModel, model_key
from tests.lambdas.api_shapes import api_shape, problems
from tests.lambdas.conftest import REGION, TABLE
from tests.lambdas.test_detect_evaluator import T0, kinesis_record

NOW = float(T0)
THINGS = 90
STORM = BehaviorDefinition(name="Storm", metric="aws:num-messages-sent", kind=BehaviorKind.ML, confidence="HIGH")
AUTH = BehaviorDefinition(
    name="Probe", metric="aws:num-authorization-failures", kind=BehaviorKind.ML, confidence="MEDIUM"
)
PROFILES = {"profiles": [{"name": "fleet", "behaviors": [STORM.to_api(), AUTH.to_api()]}]}


def fleet_stats(windows: int, seed: int = 3) -> tuple[dict[Level, SlotStats], int]:
    """Statistics of ``windows`` 5-minute windows of ~10 messages, over the trailing 14 days."""
    rng = random.Random(seed)
    step = 14 * DAY / windows
    rows = [(f"t{i % 90}", NOW - 14 * DAY + i * step, float(rng.randint(5, 15))) for i in range(windows)]
    return aggregate(rows)


def athena_rows(stats: Mapping[Level, SlotStats], earliest: float, things: int = THINGS) -> Any:
    """``training_sql``'s answer as Athena gives it: text cells, a NULL cell without ``VarCharValue``; a
    behavior with no window gets one row of the profile's span and things, its statistics NULL."""
    header = [{"VarCharValue": name} for name in COLUMNS]
    rows = [{"Data": header}]
    for (level, key), s in sorted(stats.items()):
        values = [level, key, s.windows, s.median, s.mad, *s.quantiles, int(earliest), things]
        rows.append({"Data": [{"VarCharValue": str(v) if isinstance(v, str | int) else repr(v)} for v in values]})
    if not stats:
        rows.append({"Data": [{}] * 8 + [{"VarCharValue": str(int(earliest))}, {"VarCharValue": str(things)}]})
    return QueryResults(rows=rows, column_info=[{"Name": name, "Type": "varchar"} for name in COLUMNS])


@pytest.fixture
def trained(world, monkeypatch):
    """Both behaviors trained: Storm on 30,000 windows (ACTIVE); Probe, a cloud-side count whose empty
    windows count as 0, on 40 windows of 2 things (2 x 4,032 windows in 14 days: PENDING_BUILD)."""
    monkeypatch.setenv("DETECT_PROFILES", json.dumps(PROFILES))
    for name, value in (
        ("HISTORY_WORKGROUP", "history"),
        ("HISTORY_DATABASE", "defender"),
        ("HISTORY_TABLE", "windows"),
    ):
        monkeypatch.setenv(name, value)
    boto3.client("athena", region_name=REGION).create_work_group(
        Name="history", Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/"}}
    )
    backend = athena_backends["123456789012"][REGION]
    storm, _ = fleet_stats(30_000)
    probe, _ = fleet_stats(40)
    backend.query_results_queue.extend(
        [athena_rows(storm, NOW - 14 * DAY), athena_rows(probe, NOW - 14 * DAY, things=2)]
    )
    trainer_config.config.cache_clear()
    result = train_now(NOW)
    yield world, result, backend
    trainer_config.config.cache_clear()


def test_trainer_writes_an_active_model_and_a_pending_one_with_their_summaries(trained):
    _, result, backend = trained
    assert result["failed"] == {} and len(result["summaries"]) == 2
    statuses = {s["behaviorName"]: s["modelStatus"] for s in result["summaries"]}
    assert statuses == {"Storm": "ACTIVE", "Probe": "PENDING_BUILD"}
    progress = {s["behaviorName"]: s["datapointsCollectionPercentage"] for s in result["summaries"]}
    assert progress == {"Storm": 100.0, "Probe": 32.25}  # 8,064 of 25,000
    stored = LearnedModels(TABLE).get_many([model_key("fleet", "Storm"), model_key("fleet", "Probe")])
    for model in stored.values():
        assert isinstance(model, LearnedModel)
        assert problems(model.summary(NOW), api_shape("BehaviorModelTrainingSummary")) == []
    queries = [execution.query for execution in backend.executions.values()]
    assert len(queries) == 2 and "behavior = 'Storm'" in queries[0] and "behavior = 'Probe'" in queries[1]
    assert all(execution.workgroup.name == "history" for execution in backend.executions.values())


def sent(sequence: str, thing: str, value: int, at: float) -> dict[str, Any]:
    return kinesis_record(
        sequence, {"thingName": thing, "metric": "aws:num-messages-sent", "value": value, "timestamp": int(at * 1000)}
    )


def failures(sequence: str, thing: str, value: int, at: float) -> dict[str, Any]:
    return kinesis_record(
        sequence,
        {"thingName": thing, "metric": "aws:num-authorization-failures", "value": value, "timestamp": int(at * 1000)},
    )


def test_evaluator_alarms_on_a_storm_with_the_model_in_the_ml_alert_shape(trained):
    world, _, _ = trained
    evaluator.clear_caches()
    records = [sent("1", "t1", 12, NOW + 10), sent("2", "t2", 900, NOW + 20), failures("3", "t2", 500, NOW + 30)]
    assert evaluator.evaluate_batch(records, now=NOW + 400) == {"batchItemFailures": []}
    [message] = world.notifications()  # Probe's model is still collecting: it does not alarm
    assert message["thingName"] == "t2" and message["violationEventType"] == "in-alarm"
    assert message["behavior"]["name"] == "Storm"
    assert message["behavior"]["criteria"]["mlDetectionConfig"] == {"confidenceLevel": "HIGH"}
    assert message["metricValue"] == {"count": 900}


def test_a_corrupt_model_item_leaves_its_behavior_unjudged_and_the_others_judged(trained):
    world, _, _ = trained
    active = LearnedModels(TABLE).get_many([model_key("fleet", "Storm")])[model_key("fleet", "Storm")]
    assert isinstance(active, LearnedModel)
    LearnedModels(TABLE).put(replace(active, behavior="Probe"))  # Probe judged with Storm's bands
    world.dynamodb.update_item(
        TableName=TABLE,
        Key={"id": {"S": model_key("fleet", "Storm")}},
        UpdateExpression="SET bands = :b",
        ExpressionAttributeValues={":b": {"S": "not,a,band"}},
    )
    evaluator.clear_caches()
    records = [sent("1", "t2", 900, NOW + 20), failures("2", "t2", 500, NOW + 30)]
    assert evaluator.evaluate_batch(records, now=NOW + 400) == {"batchItemFailures": []}
    [message] = world.notifications()
    assert message["behavior"]["name"] == "Probe" and message["metricValue"] == {"count": 500}


class History:
    def __init__(self, fails: str) -> None:
        self.fails = fails

    def statistics(self, profile: str, behavior: str, start: float, end: float, floor: float) -> TrainingData:
        if behavior == self.fails:
            raise RuntimeError("Athena query q-1 FAILED: HIVE_CURSOR_ERROR")
        stats, count = fleet_stats(26_000)
        return TrainingData(stats, count, start, THINGS)


class Store:
    def __init__(self, stored: dict[str, LearnedModel | CorruptModelError]) -> None:
        self.stored = stored
        self.written: list[LearnedModel] = []

    def get_many(self, keys: list[str]) -> dict[str, LearnedModel | CorruptModelError]:
        return {key: self.stored[key] for key in keys if key in self.stored}

    def put(self, model: LearnedModel) -> None:
        self.written.append(model)


def test_fails_for_one_behavior_alone_when_its_query_fails_and_rebuilds_a_corrupt_item():
    profiles = DetectProfiles.from_json(json.dumps(PROFILES))
    corrupt = CorruptModelError("model item 'learned#fleet#Probe': bands 'x' is not a finite number")
    store = Store({model_key("fleet", "Probe"): corrupt})
    run = train_all(profiles, History(fails="Storm"), store, NOW)
    assert run.failed == {model_key("fleet", "Storm"): "RuntimeError: Athena query q-1 FAILED: HIVE_CURSOR_ERROR"}
    assert run.replaced_corrupt == [model_key("fleet", "Probe")]
    assert [(m.behavior, m.status) for m in store.written] == [("Probe", "ACTIVE")]


def test_the_sweep_judges_a_quiet_things_windows_with_the_model_and_clears_the_storm(trained):
    world, _, _ = trained
    evaluator.clear_caches()
    evaluator.evaluate_batch([sent("1", "t2", 900, NOW + 20)], now=NOW + 400)
    evaluator.sweep(now=NOW + 1000)
    messages = world.notifications()
    assert [m["violationEventType"] for m in messages] == ["in-alarm", "alarm-cleared"]
    assert messages[1]["behavior"]["criteria"]["mlDetectionConfig"] == {"confidenceLevel": "HIGH"}


def test_models_status_lists_each_model_with_its_summary_and_a_corrupt_item(trained, capsys, monkeypatch):
    from iot_defender_runtime.operator import models
    from iot_defender_runtime.operator.cli import main

    world, _, _ = trained
    monkeypatch.setattr(models, "clock", lambda: NOW + DAY)
    world.dynamodb.put_item(
        TableName=TABLE,
        Item={"id": {"S": model_key("other", "Broken")}, "metric": {"S": "aws:num-disconnects"}},
    )
    capsys.readouterr()
    assert main(["models", "status", "--table", TABLE, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(s["behaviorName"], s["modelStatus"]) for s in data["summaries"]] == [
        ("Probe", "PENDING_BUILD"),
        ("Storm", "ACTIVE"),
    ]
    assert data["corrupt"] == ["model item 'learned#other#Broken': 'modelStatus'"]
    assert main(["models", "status", "--table", TABLE, "--security-profile", "fleet"]) == 0
    text = capsys.readouterr().out
    assert "fleet/Storm: ACTIVE, 100.0 % collected" in text and "fleet/Probe: PENDING_BUILD" in text
    assert main(["models", "--help"]) == 0
    monkeypatch.setattr(models, "clock", lambda: NOW + 31 * DAY)
    assert main(["models", "status", "--table", TABLE, "--security-profile", "fleet"]) == 0
    assert "fleet/Storm: EXPIRED, 100.0 % collected" in capsys.readouterr().out


def test_an_expired_model_stops_alarming_with_a_metric_and_one_log_line_saying_why(trained, caplog):
    from iot_defender_runtime.detect_evaluator import learned_bands
    from iot_defender_runtime.detect_evaluator.observability import metrics

    world, _, _ = trained
    evaluator.clear_caches()
    learned_bands._logged.clear()
    metrics.clear_metrics()
    later = NOW + 31 * DAY
    caplog.clear()
    evaluator.evaluate_batch([sent("1", "t2", 900, later + 20)], now=later + 400)
    evaluator.evaluate_batch([sent("2", "t3", 900, later + 30)], now=later + 410)
    assert world.notifications() == []
    lines = [r for r in caplog.records if r.getMessage() == "learned behavior not judged"]
    assert [getattr(r, "reason", "") for r in lines] == [
        "model of 'Storm' EXPIRED: not refreshed for 31.0 days (more than 30); the behavior does not alarm until the "
        "trainer refreshes it",
        "model of 'Probe' is PENDING_BUILD: 8064 of 25000 datapoints, 32.25 % collected",
    ]
    assert metrics.metric_set["LearnedModelsNotJudging"]["Value"] == [1.0, 1.0, 1.0, 1.0]  # 2 behaviors x 2 batches
    metrics.clear_metrics()


def test_a_quiet_cloud_side_count_trains_as_all_zeros_from_the_querys_profile_row(world, monkeypatch):
    """No authorization failure in 14 days: the query answers only the profile's span and things, and the
    model is built (all zeros), not left pending until it gives up."""
    monkeypatch.setenv("DETECT_PROFILES", json.dumps(PROFILES))
    for name, value in (("HISTORY_WORKGROUP", "history"), ("HISTORY_DATABASE", "defender"), ("HISTORY_TABLE", "t")):
        monkeypatch.setenv(name, value)
    boto3.client("athena", region_name=REGION).create_work_group(
        Name="history", Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/"}}
    )
    storm, _ = fleet_stats(30_000)
    athena_backends["123456789012"][REGION].query_results_queue.extend(
        [athena_rows(storm, NOW - 14 * DAY), athena_rows({}, NOW - 14 * DAY, things=THINGS)]
    )
    trainer_config.config.cache_clear()
    try:
        result = train_now(NOW)
    finally:
        trainer_config.config.cache_clear()
    statuses = {s["behaviorName"]: s["modelStatus"] for s in result["summaries"]}
    assert result["failed"] == {} and statuses == {"Storm": "ACTIVE", "Probe": "ACTIVE"}
