"""Self-hosted Detect through the handler on moto, where silence and first contact meet: a thing that
keeps reporting is never taken for silent, a disconnected thing's other alarms are invalidated after
two days without costing a write per sweep, a thing's first contact raises no alarm for a window it was
not known in, and a silent thing with nothing left to judge is forgotten."""

from __future__ import annotations

import json

from iot_defender_runtime.adapters.detect_state import DetectStates
from iot_defender_runtime.detect_evaluator import handler
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from tests.lambdas.conftest import TABLE, LambdaContext
from tests.lambdas.test_detect_dimensions_and_lifecycle import DISCONNECTED_TOO_LONG, lifecycle
from tests.lambdas.test_detect_evaluator import SIZE_LIMIT, T0, at_most, kinesis_record, telemetry, with_profile

DAY = 86_400
HEARTBEAT = BehaviorDefinition(
    name="Heartbeat",
    metric="aws:num-messages-sent",
    kind=BehaviorKind.RULE,
    comparison_operator="greater-than-equals",
    value={"count": 1},
    duration_seconds=300,
)


def events(world) -> list[tuple[str, str]]:
    return [(m["behavior"]["name"], m["violationEventType"]) for m in world.notifications()]


def test_a_thing_that_keeps_reporting_normal_datapoints_is_not_taken_for_silent(world, monkeypatch):
    # A connect from an unknown network raises the source-IP alarm (its datapoints come only with
    # connects); then one normal message an hour for three days, judged steady normal (no write needed)
    known_networks = BehaviorDefinition(
        name="KnownNetworks",
        metric="aws:source-ip-address",
        kind=BehaviorKind.RULE,
        comparison_operator="in-cidr-set",
        value={"cidrs": ["10.0.0.0/8"]},
    )
    with_profile(monkeypatch, known_networks, SIZE_LIMIT)
    connect = {"thingName": "t1", "metric": "aws:source-ip-address", "value": "203.0.113.7", "timestamp": T0 * 1000}
    handler.evaluate_batch([kinesis_record("1", connect)], now=T0 + 1)
    assert events(world) == [("KnownNetworks", "in-alarm")]
    for hour in range(1, 72):
        seconds = hour * 3600
        handler.evaluate_batch([telemetry(str(10 + hour), "t1", b"x" * 200, seconds)], now=T0 + seconds + 1)
        if hour % 6 == 0:
            handler.sweep(now=T0 + seconds + 2)
    assert events(world) == []  # still in alarm: the thing reports, it is not silent


def test_a_disconnected_things_other_alarms_are_invalidated_after_two_days_without_a_write_per_sweep(
    world, monkeypatch
):
    with_profile(monkeypatch, SIZE_LIMIT, DISCONNECTED_TOO_LONG)
    handler.evaluate_batch([telemetry("1", "t1", b"x" * 2000, 0), lifecycle("2", "disconnected", 5, 1)], now=T0 + 6)
    handler.sweep(now=T0 + 20 * 60)  # 20 minutes disconnected: that alarm too
    assert sorted(events(world)) == [("Offline", "in-alarm"), ("Size", "in-alarm")]
    puts = []
    DetectStates(TABLE)._dynamodb.meta.events.register("before-call.dynamodb.PutItem", lambda **_: puts.append(1))
    for sweep in range(1, 30):
        handler.sweep(now=T0 + 20 * 60 + sweep * 300)
    assert len(puts) <= 1  # the stream item only, not the thing, every sweep
    handler.sweep(now=T0 + 5 + 2 * DAY)
    assert events(world) == [("Size", "alarm-invalidated")]  # the disconnect alarm stays while it lasts


def test_a_new_things_first_contact_raises_no_alarm_for_a_window_it_was_not_known_in(world, monkeypatch):
    with_profile(monkeypatch, HEARTBEAT, at_most("Reconnects", "aws:num-connection-attempts", 10))
    connect = {"thingName": "t1", "metric": "aws:num-connection-attempts", "value": 1, "timestamp": (T0 + 30) * 1000}
    handler.evaluate_batch([kinesis_record("1", connect, arrival=T0 + 31)], now=T0 + 31)
    message = {"thingName": "t1", "kind": "message", "timestamp": (T0 + 200) * 1000}
    handler.evaluate_batch([kinesis_record("2", message, arrival=T0 + 201)], now=T0 + 201)
    handler.sweep(now=T0 + 400)
    assert events(world) == []


def test_a_silent_thing_with_nothing_left_to_judge_is_forgotten(world, monkeypatch):
    with_profile(monkeypatch, at_most("Storm", "aws:num-messages-sent", 100))
    message = {"thingName": "random-client-7", "kind": "message", "timestamp": (T0 + 10) * 1000}
    handler.evaluate_batch([kinesis_record("1", message)], now=T0 + 400)
    key = {"id": {"S": "detect#fleet#random-client-7"}}
    assert "Item" in world.dynamodb.get_item(TableName=TABLE, Key=key)
    assert handler.sweep(now=T0 + 10 + 2 * DAY - 1)["forgotten"] == 0
    assert handler.sweep(now=T0 + 10 + 2 * DAY)["forgotten"] == 1
    assert "Item" not in world.dynamodb.get_item(TableName=TABLE, Key=key)
    assert json.dumps(events(world)) == "[]"


def test_a_thing_that_leaves_the_targeted_group_is_forgotten_not_judged_by_the_sweep(world, monkeypatch):
    from iot_defender_runtime.detect_evaluator import membership

    world.iot.create_thing_group(thingGroupName="sensors")
    world.add_thing("t1", groups=("sensors",))
    profile = {"name": "fleet", "behaviors": [HEARTBEAT.to_api()], "targets": {"thingGroups": ["sensors"]}}
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [profile]}))
    handler.clear_caches()

    def message(sequence: str, seconds: int) -> dict:
        return kinesis_record(sequence, {"thingName": "t1", "kind": "message", "timestamp": (T0 + seconds) * 1000})

    handler.evaluate_batch([message("1", 10)], now=T0 + 20)
    assert "Item" in world.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "detect#fleet#t1"}})
    world.iot.remove_thing_from_thing_group(thingGroupName="sensors", thingName="t1")
    membership.forget()
    handler.evaluate_batch([message("2", 70)], now=T0 + 80)  # still sending, no longer targeted
    assert "Item" not in world.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "detect#fleet#t1"}})
    for minute in range(5, 60, 5):
        handler.sweep(now=T0 + minute * 60)
    assert events(world) == []


def test_each_sweep_run_publishes_its_duration_and_a_violation_its_behavior(world, monkeypatch, capsys):
    """The operations dashboard's sweep duration and violations by behavior come from these EMF lines."""
    with_profile(monkeypatch, SIZE_LIMIT)
    handler.lambda_handler({"sweep": True}, LambdaContext())
    handler.lambda_handler({"Records": [telemetry("1", "t1", b"x" * 5000, 0)]}, LambdaContext())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    sweep = [line for line in lines if "SweepDuration" in line]
    assert len(sweep) == 1 and sweep[0]["SweepDuration"][0] >= 0
    [violation] = [line for line in lines if "Violations" in line]
    assert (violation["BehaviorName"], violation["EventType"], violation["SecurityProfileName"]) == (
        SIZE_LIMIT.name,
        "in-alarm",
        "fleet",
    )


def test_no_violation_metric_is_written_while_metrics_are_disabled(world, monkeypatch, capsys):
    """The Detect lab replays the evaluator with metrics off: nothing may reach stdout then."""
    with_profile(monkeypatch, SIZE_LIMIT)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    handler.evaluate_batch([telemetry("1", "t1", b"x" * 5000, 0)], now=T0 + 1)
    assert events(world) == [(SIZE_LIMIT.name, "in-alarm")]
    assert '"Violations"' not in capsys.readouterr().out
