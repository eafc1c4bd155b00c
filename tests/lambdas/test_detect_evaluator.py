"""The self-hosted Detect evaluator on moto: Kinesis records in, violation JSON out, state kept,
silence invalidated, and its output driving the quarantine responder unchanged."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest

from iot_defender_runtime.adapters.detect_state import DetectStates
from iot_defender_runtime.adapters.sns_notifier import Notifier
from iot_defender_runtime.detect_evaluator import batch, handler, membership
from iot_defender_runtime.detect_evaluator import config as evaluator_config
from iot_defender_runtime.detect_evaluator.records import message_datapoints
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind
from iot_defender_runtime.quarantine import handler as quarantine_handler
from tests.lambdas.conftest import QUARANTINE_GROUP, TABLE, LambdaContext


def at_most(name: str, metric: str, limit: int, duration_seconds: int | None = 300) -> BehaviorDefinition:
    """A rule behavior: normal while the metric (a window's total, or each datapoint) is at most ``limit``."""
    return BehaviorDefinition(
        name=name,
        metric=metric,
        kind=BehaviorKind.RULE,
        comparison_operator="less-than-equals",
        value={"count": limit},
        duration_seconds=duration_seconds,
    )


STORM = at_most("MessageStorm", "aws:num-messages-sent", 100)
SIZE_LIMIT = at_most("Size", "aws:message-byte-size", 1024, None)


@pytest.fixture
def evaluator(world, monkeypatch):
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [STORM.to_api()]}]}))
    return world


def kinesis_record(sequence: str, body: Any, arrival: float | None = None) -> dict[str, Any]:
    """A Kinesis record of the datapoint stream; it reached the stream at ``arrival`` (default: long ago
    enough that the batch's stream time is its ``now``: windows that ended a clock skew before ``now``
    are settled)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if arrival is None:
        arrival = T0 + 10**6
    return {
        "kinesis": {
            "partitionKey": "k",
            "sequenceNumber": sequence,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": float(arrival),
        },
        "eventSource": "aws:kinesis",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/datapoints",
    }


T0 = 1_700_000_100  # a window boundary (a multiple of 300 seconds)


def sent(sequence: str, thing: str, value: int, seconds: float) -> dict[str, Any]:
    """A datapoint ``seconds`` after T0, stamped in epoch milliseconds as the topic rules do."""
    return kinesis_record(
        sequence,
        {
            "thingName": thing,
            "metric": "aws:num-messages-sent",
            "value": value,
            "timestamp": int((T0 + seconds) * 1000),
        },
    )


def state_of(world, thing: str, behavior: str = "MessageStorm") -> dict[str, Any] | None:
    item = world.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": f"detect#fleet#{thing}"}}).get("Item")
    return json.loads(item["behaviors"]["S"]).get(behavior) if item else None


def test_a_window_over_the_limit_raises_in_alarm_in_the_managed_detect_shape(evaluator):
    records = [sent("1", "t1", 60, 10), sent("2", "t1", 50, 200), sent("3", "t1", 1, 310)]
    assert handler.evaluate_batch(records, now=T0 + 380) == {"batchItemFailures": []}
    [message] = evaluator.notifications()
    assert message["violationEventType"] == "in-alarm"
    assert message["thingName"] == "t1" and message["securityProfileName"] == "fleet"
    assert message["behavior"] == STORM.to_api()
    assert message["metricValue"] == {"count": 110}
    assert message["violationEventTime"] == (T0 + 300) * 1000
    assert state_of(evaluator, "t1")["in_alarm"] is True


def test_redelivered_records_are_not_counted_twice(evaluator):
    records = [sent("1", "t1", 60, 10), sent("2", "t1", 30, 200)]
    handler.evaluate_batch(records, now=T0 + 250)
    handler.evaluate_batch(records, now=T0 + 260)  # Kinesis retried the batch
    assert state_of(evaluator, "t1")["open_windows"] == [[T0, 90]]
    handler.evaluate_batch([], now=T0 + 361)
    assert evaluator.notifications() == []


def test_fails_for_that_record_only_when_it_is_not_a_datapoint(evaluator):
    records = [kinesis_record("9", b"not json"), sent("10", "t2", 500, 10), kinesis_record("11", {"value": 1})]
    assert handler.evaluate_batch(records, now=T0 + 361) == {
        "batchItemFailures": [{"itemIdentifier": "9"}, {"itemIdentifier": "11"}]
    }
    assert [m["thingName"] for m in evaluator.notifications()] == ["t2"]


def test_alarm_clears_with_the_same_violation_id(evaluator):
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 361)
    handler.evaluate_batch([sent("2", "t1", 5, 310)], now=T0 + 661)
    alarm, clear = evaluator.notifications()
    assert (alarm["violationEventType"], clear["violationEventType"]) == ("in-alarm", "alarm-cleared")
    assert alarm["violationId"] == clear["violationId"]


def test_silent_thing_in_alarm_is_invalidated_by_the_sweep_after_two_days(world, monkeypatch):
    # Device Defender: a device that reports no metrics for two days has its alarms invalidated
    with_profile(monkeypatch, SIZE_LIMIT)
    handler.evaluate_batch([telemetry("1", "t1", b"x" * 2000, 10)], now=T0 + 11)
    alarm = world.notifications()[0]
    assert handler.sweep(now=T0 + 10 + 2 * 86400 - 1)["invalidated"] == 0
    assert handler.sweep(now=T0 + 10 + 2 * 86400)["invalidated"] == 1
    [invalidated] = world.notifications()
    assert (invalidated["violationEventType"], invalidated["violationId"]) == (
        "alarm-invalidated",
        alarm["violationId"],
    )
    assert state_of(world, "t1", "Size")["in_alarm"] is False


def test_a_batch_that_leaves_the_state_unchanged_writes_nothing(evaluator):
    # Given t1's window judged normal
    handler.evaluate_batch([sent("1", "t1", 5, 10)], now=T0 + 361)
    key = {"id": {"S": "detect#fleet#t1"}}
    before = evaluator.dynamodb.get_item(TableName=TABLE, Key=key)["Item"]["version"]
    # When an old record of that judged window is redelivered (late), Then the state is not rewritten
    handler.evaluate_batch([sent("0", "t1", 99, 20)], now=T0 + 362)
    assert evaluator.dynamodb.get_item(TableName=TABLE, Key=key)["Item"]["version"] == before


def test_evaluator_output_drives_the_quarantine_responder_unchanged(evaluator):
    evaluator.add_thing("t1")
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 361)
    [violation] = evaluator.notifications()
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(violation)}}]}
    assert quarantine_handler.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert QUARANTINE_GROUP in evaluator.groups_of("t1")


def test_ml_behaviors_are_run_by_the_self_hosted_evaluator(world, monkeypatch):
    ml = {"name": "Ml", "metric": "aws:num-disconnects", "criteria": {"mlDetectionConfig": {"confidenceLevel": "HIGH"}}}
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [ml]}]}))
    [behavior] = evaluator_config.config().profiles.behaviors
    assert behavior.definition.confidence == "HIGH"


def test_fails_at_cold_start_for_a_statistical_behavior_on_a_per_message_metric(world, monkeypatch):
    sizes = BehaviorDefinition(
        name="Sizes",
        metric="aws:message-byte-size",
        kind=BehaviorKind.STATISTICAL,
        comparison_operator="less-than-equals",
        statistic="p99",
        duration_seconds=300,
    )
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [sizes.to_api()]}]}))
    with pytest.raises(evaluator_config.ConfigurationError) as raised:
        evaluator_config.config()
    assert str(raised.value) == (
        "invalid evaluator configuration: DETECT_PROFILES profiles[0].behaviors[0] ('Sizes') is a statistical "
        "behavior on aws:message-byte-size, which is judged per message or per report; the self-hosted evaluator "
        "takes percentiles of window totals, so use a rule behavior or managed Detect"
    )


def test_agent_report_with_an_unexpected_listening_port_raises_in_alarm(world, monkeypatch):
    from constructs_lib import StarterBehaviors

    behavior = StarterBehaviors.unexpected_listening_ports(allowed_tcp_ports=[443]).definition
    monkeypatch.setenv(
        "DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [behavior.to_api()]}]})
    )
    report = {
        "header": {"report_id": 1, "version": "1.0"},
        "metrics": {"listening_tcp_ports": {"ports": [{"port": 443}, {"port": 23}], "total": 2}},
        "thingName": "camera-1",
        "receivedAt": (T0 + 5) * 1000,
    }
    assert handler.evaluate_batch([kinesis_record("7", report)], now=T0 + 10) == {"batchItemFailures": []}
    [message] = world.notifications()
    assert (message["thingName"], message["violationEventType"]) == ("camera-1", "in-alarm")
    assert message["metricValue"] == {"ports": [443, 23]}


def test_sweep_judges_the_window_of_a_thing_that_went_quiet_after_a_burst(evaluator):
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 20)
    assert evaluator.notifications() == []
    # The window ends at T0 + 300; the sweep waits the clock skew (60 s) for datapoints in flight
    assert handler.sweep(now=T0 + 359)["windows_judged"] == 0
    assert handler.sweep(now=T0 + 360)["windows_judged"] == 1
    [alarm] = evaluator.notifications()
    assert (alarm["thingName"], alarm["violationEventType"], alarm["metricValue"]) == ("t1", "in-alarm", {"count": 500})
    assert state_of(evaluator, "t1")["open_windows"] == []


LIKE_THE_FLEET = BehaviorDefinition(
    name="LikeTheFleet",
    metric="aws:num-messages-sent",
    kind=BehaviorKind.STATISTICAL,
    comparison_operator="less-than-equals",
    statistic="p90",
    duration_seconds=300,
)


@pytest.fixture
def statistical(world, monkeypatch):
    profile = {"name": "fleet", "behaviors": [LIKE_THE_FLEET.to_api()]}
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [profile]}))
    return world


def fleet_window(first_sequence: int, totals: dict[str, int], window: int) -> list[dict[str, Any]]:
    return [
        sent(str(first_sequence + index), thing, total, 300 * window + 10)
        for index, (thing, total) in enumerate(totals.items())
    ]


def test_statistical_behavior_alarms_on_the_thing_far_above_the_fleet_percentile(statistical):
    fleet = {f"t{i}": total for i, total in enumerate((10, 12, 11, 9, 10, 13, 10, 11, 12, 14))}
    # Window 0: no earlier fleet window, so nothing can be judged yet
    handler.evaluate_batch(fleet_window(100, fleet, 0), now=T0 + 20)
    handler.evaluate_batch(fleet_window(200, {**fleet, "t0": 200}, 1), now=T0 + 380)
    assert statistical.notifications() == []
    # The sweep computes window 0's p90 from the ten things' totals
    handler.sweep(now=T0 + 365)
    item = statistical.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "detect-fleet#fleet#LikeTheFleet"}})
    assert json.loads(item["Item"]["thresholds"]["S"]) == {repr(float(T0)): [13, 10]}
    # Window 1 closes: t0 sent 200 against a fleet p90 of 13, t5 sent 13, t9 sent 14
    handler.evaluate_batch(fleet_window(300, fleet, 2), now=T0 + 680)
    alarms = statistical.notifications()
    assert sorted((m["thingName"], m["metricValue"]["count"]) for m in alarms) == [("t0", 200), ("t9", 14)]
    assert {m["behavior"]["criteria"]["statisticalThreshold"]["statistic"] for m in alarms} == {"p90"}


def test_suppressed_behavior_keeps_its_state_and_publishes_nothing(world, monkeypatch):
    quiet = replace(STORM, suppress_alerts=True)
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [quiet.to_api()]}]}))
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 361)
    assert world.notifications() == []
    assert state_of(world, "t1")["in_alarm"] is True


def test_steady_normal_agent_reports_write_no_state(world, monkeypatch):
    from constructs_lib import StarterBehaviors

    behavior = StarterBehaviors.unexpected_listening_ports(allowed_tcp_ports=[443]).definition
    monkeypatch.setenv(
        "DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [behavior.to_api()]}]})
    )

    def report(sequence: str, seconds: int) -> dict[str, Any]:
        metrics = {"listening_tcp_ports": {"ports": [{"port": 443}], "total": 1}}
        body = {"header": {"report_id": seconds, "version": "1.0"}, "metrics": metrics, "thingName": "cam"}
        return kinesis_record(sequence, {**body, "receivedAt": (T0 + seconds) * 1000})

    key = {"id": {"S": "detect#fleet#cam"}}
    handler.evaluate_batch([report("1", 5)], now=T0 + 10)
    version = world.dynamodb.get_item(TableName=TABLE, Key=key)["Item"]["version"]
    for index in range(2, 5):
        handler.evaluate_batch([report(str(index), 300 * index)], now=T0 + 300 * index + 5)
    assert world.dynamodb.get_item(TableName=TABLE, Key=key)["Item"]["version"] == version
    assert world.notifications() == []


def with_profile(monkeypatch, *behaviors: BehaviorDefinition) -> None:
    profile = {"name": "fleet", "behaviors": [b.to_api() for b in behaviors]}
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [profile]}))


def telemetry(sequence: str, thing: str, payload: bytes, seconds: float) -> dict[str, Any]:
    """What the telemetry rule writes for one message when a size behavior is configured."""
    encoded = base64.b64encode(payload).decode()
    body = {
        "thingName": thing,
        "kind": "message",
        "base64Length": len(encoded),
        "padded1": encoded.endswith("="),
        "padded2": encoded.endswith("=="),
        "timestamp": int((T0 + seconds) * 1000),
    }
    return kinesis_record(sequence, body)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4096, 4097, 4098])
def test_message_size_is_recovered_exactly_from_the_base64_length_and_padding(size):
    [sent_pair, size_pair] = message_datapoints(
        json.loads(base64.b64decode(telemetry("1", "t", b"x" * size, 0)["kinesis"]["data"]))
    )
    assert (sent_pair, size_pair) == (("aws:num-messages-sent", 1), ("aws:message-byte-size", size))


def test_an_oversized_message_raises_in_alarm_and_also_counts_as_a_message(world, monkeypatch):
    sizes = at_most("Sizes", "aws:message-byte-size", 4096, None)
    with_profile(monkeypatch, sizes, STORM)
    records = [telemetry("1", "t1", b"{}" * 10, 1), telemetry("2", "t1", b"x" * 4097, 2)]
    assert handler.evaluate_batch(records, now=T0 + 3) == {"batchItemFailures": []}
    [message] = world.notifications()
    assert (message["behavior"]["name"], message["metricValue"]) == ("Sizes", {"count": 4097})
    assert state_of(world, "t1")["open_windows"] == [[T0, 2]]  # both messages counted by MessageStorm


def log_record(sequence: str, events: list[dict[str, Any]], message_type: str = "DATA_MESSAGE") -> dict[str, Any]:
    """A CloudWatch Logs subscription record: gzip JSON, as CloudWatch Logs writes it to Kinesis."""
    import gzip

    envelope = {
        "messageType": message_type,
        "owner": "123456789012",
        "logGroup": "AWSIotLogsV2",
        "logStream": "e0f1d2c3",
        "subscriptionFilters": ["AuthorizationFailures"],
        "logEvents": events,
    }
    return kinesis_record(sequence, gzip.compress(json.dumps(envelope).encode()))


def iot_log_event(event_id: str, client: str, seconds: float, reason: str = "AUTHORIZATION_FAILURE") -> dict[str, Any]:
    entry = {
        "timestamp": "2023-11-14 22:15:00.000",
        "logLevel": "ERROR",
        "traceId": "20b23f3f-d7f1-feae-169f-82263394fbdb",
        "accountId": "123456789012",
        "status": "Failure",
        "eventType": "Publish-In",
        "protocol": "MQTT",
        "topicName": "factory/secrets",
        "clientId": client,
        "principalId": "145179c40e2219e18a909d896a5340b74cf97a39641beec2fc3eeafc5a932167",
        "sourceIp": "205.251.233.181",
        "sourcePort": 13490,
        "reason": reason,
        "details": "Authorization Failure",
    }
    return {"id": event_id, "timestamp": int((T0 + seconds) * 1000), "message": json.dumps(entry)}


def test_authorization_failures_from_iot_logs_raise_in_alarm_per_client(world, monkeypatch):
    denied = at_most("Denied", "aws:num-authorization-failures", 2)
    with_profile(monkeypatch, denied)
    events = [iot_log_event(str(i), "probe-1", 10 + i) for i in range(3)] + [
        iot_log_event("9", "meter-2", 20),
        {"id": "10", "timestamp": (T0 + 21) * 1000, "message": "not json"},
    ]
    records = [log_record("1", events), log_record("2", [], message_type="CONTROL_MESSAGE")]
    assert handler.evaluate_batch(records, now=T0 + 20) == {"batchItemFailures": []}
    assert handler.evaluate_batch([log_record("1", events)], now=T0 + 359) == {"batchItemFailures": []}
    assert world.notifications() == []  # log deliveries may lag: the window waits for the clock skew
    handler.sweep(now=T0 + 360)
    [message] = world.notifications()  # the redelivered record was not counted twice
    assert (message["thingName"], message["metricValue"]) == ("probe-1", {"count": 3})


def test_a_record_that_is_gzip_but_not_a_log_envelope_fails_alone(evaluator):
    import gzip

    records = [kinesis_record("1", gzip.compress(b"[1, 2]")), sent("2", "t1", 500, 10)]
    assert handler.evaluate_batch(records, now=T0 + 361) == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert [m["thingName"] for m in evaluator.notifications()] == ["t1"]


def on_shard(record: dict[str, Any], shard: str) -> dict[str, Any]:
    return {**record, "eventID": f"{shard}:{record['kinesis']['sequenceNumber']}"}


def test_a_redelivered_batch_of_many_datapoints_per_thing_is_counted_once_per_shard(evaluator):
    # 150 messages of t1 in one batch: more than any list of remembered ids would hold
    first = [on_shard(sent(str(1000 + i), "t1", 1, 10 + i), "shardId-000000000001") for i in range(150)]
    handler.evaluate_batch(first, now=T0 + 200)
    handler.evaluate_batch(first, now=T0 + 210)  # redelivered
    # Another shard numbers its records independently (e.g. after a reshard)
    other = [on_shard(sent(str(5 + i), "t1", 1, 170 + i), "shardId-000000000002") for i in range(3)]
    handler.evaluate_batch(other, now=T0 + 220)
    assert state_of(evaluator, "t1")["open_windows"] == [[T0, 153]]
    item = evaluator.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "detect#fleet#t1"}})["Item"]
    assert json.loads(item["marks"]["S"]) == {"shardId-000000000001": "1149", "shardId-000000000002": "7"}


def test_a_violation_whose_publication_failed_is_published_on_retry_not_lost(evaluator, monkeypatch):
    publish = Notifier.publish
    calls = {"n": 0}

    def flaky(self, subject, message):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("SNS unavailable")
        return publish(self, subject, message)

    monkeypatch.setattr(Notifier, "publish", flaky)
    records = [sent("1", "t1", 500, 10)]
    with pytest.raises(RuntimeError):
        handler.evaluate_batch(records, now=T0 + 361)
    assert state_of(evaluator, "t1") is None  # nothing written: Kinesis retries the batch
    handler.evaluate_batch(records, now=T0 + 362)
    [alarm] = evaluator.notifications()
    assert alarm["violationEventType"] == "in-alarm"


@pytest.mark.parametrize(
    ("targets", "alarmed"),
    [
        ({"thingGroups": ["sensors"]}, ["in-child-group", "in-group"]),
        ({"thingGroups": [], "registeredThings": True}, ["elsewhere", "in-child-group", "in-group"]),
        ({"thingGroups": [], "unregisteredThings": True}, ["stranger"]),
        (None, ["elsewhere", "in-child-group", "in-group", "stranger"]),
    ],
)
def test_only_the_things_the_profile_targets_are_evaluated(world, monkeypatch, targets, alarmed):
    world.iot.create_thing_group(thingGroupName="sensors")
    world.iot.create_thing_group(thingGroupName="sensors-eu", parentGroupName="sensors")
    world.iot.create_thing_group(thingGroupName="cameras")
    world.add_thing("in-group", groups=("sensors",))
    world.add_thing("in-child-group", groups=("sensors-eu",))
    world.add_thing("elsewhere", groups=("cameras",))
    profile: dict[str, Any] = {"name": "fleet", "behaviors": [STORM.to_api()]}
    if targets is not None:
        profile["targets"] = targets
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [profile]}))
    things = ["in-group", "in-child-group", "elsewhere", "stranger"]  # stranger: a client id with no thing
    records = [sent(str(i), thing, 500, 10) for i, thing in enumerate(things)]
    assert handler.evaluate_batch(records, now=T0 + 361) == {"batchItemFailures": []}
    assert sorted(m["thingName"] for m in world.notifications()) == alarmed


def test_group_membership_is_looked_up_once_per_cache_period(world, monkeypatch):
    world.iot.create_thing_group(thingGroupName="sensors")
    world.add_thing("t1", groups=("sensors",))
    profile = {"name": "fleet", "behaviors": [STORM.to_api()], "targets": {"thingGroups": ["sensors"]}}
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [profile]}))
    lookups = []
    membership.registry()._iot.meta.events.register(
        "before-call.iot.ListThingGroupsForThing", lambda **_: lookups.append(1)
    )
    handler.evaluate_batch([sent("1", "t1", 1, 10)], now=T0 + 20)
    handler.evaluate_batch([sent("2", "t1", 1, 20)], now=T0 + 319)
    assert len(lookups) == 1
    # The thing leaves the group: followed once the cached membership is 300 s old, so its storm is not judged
    world.iot.remove_thing_from_thing_group(thingGroupName="sensors", thingName="t1")
    handler.evaluate_batch([sent("3", "t1", 500, 330)], now=T0 + 320)
    handler.evaluate_batch([sent("4", "t1", 1, 640)], now=T0 + 641)
    assert len(lookups) == 3
    assert world.notifications() == []


def test_fails_at_cold_start_for_targets_it_cannot_read(world, monkeypatch):
    profile = {"name": "fleet", "behaviors": [STORM.to_api()], "targets": {"thingGroups": "sensors"}}
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [profile]}))
    with pytest.raises(evaluator_config.ConfigurationError) as raised:
        evaluator_config.config()
    assert str(raised.value) == (
        "invalid evaluator configuration: DETECT_PROFILES profiles[0].targets must be an object with thingGroups "
        "(a list of names), registeredThings and unregisteredThings (true or false)"
    )


def test_a_thing_is_written_once_per_batch_however_many_behaviors_it_touched(world, monkeypatch):
    storm_too = at_most("MessageFlood", "aws:num-messages-sent", 1000)
    with_profile(monkeypatch, STORM, storm_too)
    puts = []
    DetectStates(TABLE)._dynamodb.meta.events.register("before-call.dynamodb.PutItem", lambda **_: puts.append(1))
    handler.evaluate_batch([sent(str(i), "t1", 1, 10 + i) for i in range(5)], now=T0 + 20)
    assert len(puts) == 1
    windows = (state_of(world, "t1")["open_windows"], state_of(world, "t1", "MessageFlood")["open_windows"])
    assert windows == ([[T0, 5]], [[T0, 5]])


def test_each_profile_judges_the_same_thing_on_its_own(world, monkeypatch):
    strict = replace(STORM, value={"count": 10})
    profiles = [
        {"name": "lenient", "behaviors": [STORM.to_api()]},
        {"name": "strict", "behaviors": [strict.to_api()]},
    ]
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": profiles}))
    handler.evaluate_batch([sent("1", "t1", 50, 10)], now=T0 + 361)
    [message] = world.notifications()
    assert (message["securityProfileName"], message["metricValue"]) == ("strict", {"count": 50})
    items = world.dynamodb.scan(TableName=TABLE)["Items"]
    assert sorted(i["id"]["S"] for i in items if i["id"]["S"].startswith("detect#")) == [
        "detect#lenient#t1",
        "detect#strict#t1",
    ]


def test_fails_at_cold_start_when_compressed_behaviors_are_not_gzip(world, monkeypatch):
    profile = {"name": "fleet", "behaviorsGzip": "bm90IGd6aXA="}  # base64 of "not gzip"
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [profile]}))
    with pytest.raises(evaluator_config.ConfigurationError) as raised:
        evaluator_config.config()
    assert str(raised.value).startswith(
        "invalid evaluator configuration: DETECT_PROFILES profiles[0].behaviorsGzip is not base64 of gzip JSON"
    )


def test_remembered_memberships_are_bounded(world, monkeypatch):
    monkeypatch.setattr(membership, "MAX_REMEMBERED_MEMBERSHIPS", 2)
    for index, thing in enumerate(["a", "b", "c"]):
        membership.membership(thing, now=T0 + index, max_age=300)
    assert set(membership._memberships) == {"c"}  # none had expired, so all were forgotten before c
    membership.membership("d", now=T0 + 3, max_age=300)
    assert set(membership._memberships) == {"c", "d"}


def test_messages_delivered_to_a_client_count_as_messages_received(world, monkeypatch):
    received = at_most("Received", "aws:num-messages-received", 1)
    with_profile(monkeypatch, received)

    def delivered(event_id: str, client: str, status: str = "Success") -> dict[str, Any]:
        entry = {"eventType": "Publish-Out", "status": status, "clientId": client, "topicName": "cmd/1"}
        return {"id": event_id, "timestamp": (T0 + 10) * 1000, "message": json.dumps(entry)}

    events = [delivered("1", "t1"), delivered("2", "t1"), delivered("3", "t2"), delivered("4", "t2", "Failure")]
    assert handler.evaluate_batch([log_record("1", events)], now=T0 + 361) == {"batchItemFailures": []}
    [message] = world.notifications()
    assert (message["thingName"], message["metricValue"]) == ("t1", {"count": 2})


def test_a_behavior_removed_from_the_profile_has_its_alarm_invalidated_and_its_state_dropped(world, monkeypatch):
    flood = replace(STORM, name="MessageFlood")
    with_profile(monkeypatch, STORM, flood)
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 361)
    alarms = {m["behavior"]["name"]: m for m in world.notifications()}
    assert set(alarms) == {"MessageStorm", "MessageFlood"}
    # The profile is redeployed without MessageFlood
    with_profile(monkeypatch, STORM)
    handler.clear_caches()
    assert handler.sweep(now=T0 + 400)["retired"] == 1
    [invalidated] = world.notifications()
    assert (invalidated["violationEventType"], invalidated["violationId"], invalidated["behavior"]) == (
        "alarm-invalidated",
        alarms["MessageFlood"]["violationId"],
        {"name": "MessageFlood"},
    )
    assert state_of(world, "t1", "MessageFlood") is None and state_of(world, "t1")["in_alarm"] is True
    # The whole profile goes: the thing's state goes with it
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [{"name": "other", "behaviors": [STORM.to_api()]}]}))
    handler.clear_caches()
    handler.sweep(now=T0 + 500)
    assert world.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "detect#fleet#t1"}}).get("Item") is None
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(m)}} for m in world.notifications()]}
    assert quarantine_handler.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}


def test_sweep_leaves_a_state_the_evaluator_changed_meanwhile_for_next_time(evaluator, monkeypatch):
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 20)
    put = DetectStates.put

    def evaluator_wrote_first(self, key, behaviors, expected_version, marks, connection=None):
        put(self, key, {}, expected_version, marks)  # another writer bumps the version
        return put(self, key, behaviors, expected_version, marks, connection)

    monkeypatch.setattr(DetectStates, "put", evaluator_wrote_first)
    assert handler.sweep(now=T0 + 360)["conflicts"] == 1
    monkeypatch.setattr(DetectStates, "put", put)
    # The alarm was published before the write (at least once), and the other writer's state stands
    assert [m["violationEventType"] for m in evaluator.notifications()] == ["in-alarm"]
    assert state_of(evaluator, "t1") is None


def published_metrics(capsys) -> dict[str, float]:
    """The evaluator's metrics since the last call, as Powertools writes them (EMF on stdout), summed by name."""
    handler.metrics.flush_metrics()
    totals: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if not isinstance(document, dict) or "_aws" not in document:
            continue
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = document[metric["Name"]]
            totals[metric["Name"]] = totals.get(metric["Name"], 0) + (sum(value) if isinstance(value, list) else value)
    return totals


def test_late_future_and_redelivered_datapoints_are_each_counted_in_a_metric(evaluator, capsys):
    handler.metrics.clear_metrics()
    # Given t1's window 0 judged (normal) by a first batch
    handler.evaluate_batch([sent("1", "t1", 5, 10)], now=T0 + 361)
    assert published_metrics(capsys) == {"StateWrites": 1}
    # When a batch brings a datapoint for window 0 (late), one stamped past the clock skew (future),
    # and the first record again (redelivered)
    records = [sent("2", "t1", 7, 20), sent("3", "t1", 1, 362 + 61), sent("1", "t1", 5, 10)]
    assert handler.evaluate_batch(records, now=T0 + 362) == {"batchItemFailures": []}
    # Then each is dropped and counted in its metric
    counted = published_metrics(capsys)
    assert (counted["LateDatapoints"], counted["FutureDatapoints"], counted["RedeliveredDatapoints"]) == (1, 1, 1)
    assert state_of(evaluator, "t1")["open_windows"] == [] and evaluator.notifications() == []


def test_datapoints_the_engine_drops_as_seen_before_count_as_redelivered(evaluator, capsys, monkeypatch):
    # The handler's datapoints carry no id (redelivery is caught by the shard marks), so the engine's own
    # duplicate counter is forced here to show it is published, not dropped on the floor.
    judge = batch.evaluate
    monkeypatch.setattr(batch, "evaluate", lambda *args, **kwargs: replace(judge(*args, **kwargs), duplicates=2))
    handler.metrics.clear_metrics()
    handler.evaluate_batch([sent("1", "t1", 5, 10)], now=T0 + 20)
    assert published_metrics(capsys)["RedeliveredDatapoints"] == 2


def test_a_rejected_record_is_counted_and_the_batch_goes_on(evaluator, capsys):
    handler.metrics.clear_metrics()
    records = [sent("1", "t1", 5, 10), kinesis_record("2", {"thingName": "t1", "metric": "aws:num-messages-sent"})]
    assert handler.evaluate_batch(records, now=T0 + 20) == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert published_metrics(capsys) == {"RejectedRecords": 1, "StateWrites": 1}


@pytest.mark.parametrize(
    "value",
    ["many", None, True, [1], {"n": 1}, 10**400, "NaN"],
    ids=["text", "null", "boolean", "list", "object", "too-large", "nan"],
)
def test_a_value_its_metric_cannot_take_fails_its_record_alone(evaluator, value):
    bad = kinesis_record(
        "2", {"thingName": "t1", "metric": "aws:num-messages-sent", "value": value, "timestamp": (T0 + 5) * 1000}
    )
    records = [sent("1", "t1", 500, 10), bad, sent("3", "t2", 500, 10)]
    assert handler.evaluate_batch(records, now=T0 + 361) == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert sorted(m["thingName"] for m in evaluator.notifications()) == ["t1", "t2"]


def test_a_source_ip_alert_carries_the_address_as_a_list_and_drives_the_responder(world, monkeypatch):
    # The one shape change of the single violation model: cidrs was the bare string "203.0.113.7"
    home = BehaviorDefinition(
        name="HomeNetwork",
        metric="aws:source-ip-address",
        kind=BehaviorKind.RULE,
        comparison_operator="in-cidr-set",
        value={"cidrs": ["10.0.0.0/8"]},
    )
    with_profile(monkeypatch, home)
    world.add_thing("t1")
    connect = {"thingName": "t1", "metric": "aws:source-ip-address", "value": "203.0.113.7", "timestamp": T0 * 1000}
    assert handler.evaluate_batch([kinesis_record("1", connect)], now=T0 + 1) == {"batchItemFailures": []}
    [violation] = world.notifications()
    assert violation["metricValue"] == {"cidrs": ["203.0.113.7"]}
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(violation)}}]}
    assert quarantine_handler.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert QUARANTINE_GROUP in world.groups_of("t1")


def test_a_connected_thing_that_sends_nothing_alarms_on_an_at_least_n_messages_behavior(world, monkeypatch):
    heartbeat = BehaviorDefinition(
        name="Heartbeat",
        metric="aws:num-messages-sent",
        kind=BehaviorKind.RULE,
        comparison_operator="greater-than-equals",
        value={"count": 1},
        duration_seconds=300,
        consecutive_datapoints_to_alarm=2,
    )
    with_profile(monkeypatch, heartbeat, at_most("Reconnects", "aws:num-connection-attempts", 10))
    connect = {"thingName": "t1", "metric": "aws:num-connection-attempts", "value": 1, "timestamp": (T0 + 5) * 1000}
    handler.evaluate_batch([sent("1", "t1", 3, 10), kinesis_record("2", connect)], now=T0 + 20)
    handler.sweep(now=T0 + 600 + 60)  # window [T0+300, T0+600) settled with no message: 1 of 2
    assert world.notifications() == []
    handler.sweep(now=T0 + 900 + 60)  # and the next: in alarm, with the value 0
    [alarm] = world.notifications()
    assert (alarm["behavior"]["name"], alarm["metricValue"]) == ("Heartbeat", {"count": 0})
