"""The self-hosted Detect evaluator on moto: Kinesis records in, violation JSON out, state kept,
silence invalidated, and its output driving the quarantine responder unchanged."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from lambdas.detect_evaluator import handler
from lambdas.quarantine import handler as quarantine_handler
from lambdas.shared.behavior_definition import BehaviorDefinition, BehaviorKind
from tests.lambdas.conftest import QUARANTINE_GROUP, TABLE, LambdaContext

STORM = BehaviorDefinition(
    name="MessageStorm",
    metric="aws:num-messages-sent",
    kind=BehaviorKind.RULE,
    comparison_operator="less-than-equals",
    value={"count": 100},
    duration_seconds=300,
)


@pytest.fixture
def evaluator(world, monkeypatch):
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [STORM.to_api()]}]}))
    return world


def kinesis_record(sequence: str, body: Any) -> dict[str, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {
        "kinesis": {
            "partitionKey": "k",
            "sequenceNumber": sequence,
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1_700_000_000.0,
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


def state_of(world, thing: str) -> dict[str, Any] | None:
    item = world.dynamodb.get_item(TableName=TABLE, Key={"id": {"S": f"detect#fleet#MessageStorm#{thing}"}}).get("Item")
    return json.loads(item["state"]["S"]) if item else None


def test_a_window_over_the_limit_raises_in_alarm_in_the_managed_detect_shape(evaluator):
    records = [sent("1", "t1", 60, 10), sent("2", "t1", 50, 200), sent("3", "t1", 1, 310)]
    assert handler.evaluate_batch(records, now=T0 + 320) == {"batchItemFailures": []}
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
    assert state_of(evaluator, "t1")["aggregate"] == 90
    handler.evaluate_batch([], now=T0 + 301)
    assert evaluator.notifications() == []


def test_fails_for_that_record_only_when_it_is_not_a_datapoint(evaluator):
    records = [kinesis_record("9", b"not json"), sent("10", "t2", 500, 10), kinesis_record("11", {"value": 1})]
    assert handler.evaluate_batch(records, now=T0 + 301) == {
        "batchItemFailures": [{"itemIdentifier": "9"}, {"itemIdentifier": "11"}]
    }
    assert [m["thingName"] for m in evaluator.notifications()] == ["t2"]


def test_alarm_clears_with_the_same_violation_id(evaluator):
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 301)
    handler.evaluate_batch([sent("2", "t1", 5, 310)], now=T0 + 601)
    alarm, clear = evaluator.notifications()
    assert (alarm["violationEventType"], clear["violationEventType"]) == ("in-alarm", "alarm-cleared")
    assert alarm["violationId"] == clear["violationId"]


def test_silent_thing_in_alarm_is_invalidated_by_the_sweep(evaluator):
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 301)
    alarm = evaluator.notifications()[0]
    assert handler.sweep(now=T0 + 10 + 3599) == {"invalidated": 0}
    assert handler.sweep(now=T0 + 10 + 3600) == {"invalidated": 1}
    [invalidated] = evaluator.notifications()
    assert (invalidated["violationEventType"], invalidated["violationId"]) == (
        "alarm-invalidated",
        alarm["violationId"],
    )
    assert state_of(evaluator, "t1")["in_alarm"] is False


def test_a_batch_that_leaves_the_state_unchanged_writes_nothing(evaluator):
    # Given t1's window judged normal
    handler.evaluate_batch([sent("1", "t1", 5, 10)], now=T0 + 301)
    key = {"id": {"S": "detect#fleet#MessageStorm#t1"}}
    before = evaluator.dynamodb.get_item(TableName=TABLE, Key=key)["Item"]["version"]
    # When an old record of that judged window is redelivered (late), Then the state is not rewritten
    handler.evaluate_batch([sent("0", "t1", 99, 20)], now=T0 + 302)
    assert evaluator.dynamodb.get_item(TableName=TABLE, Key=key)["Item"]["version"] == before


def test_evaluator_output_drives_the_quarantine_responder_unchanged(evaluator):
    evaluator.add_thing("t1")
    handler.evaluate_batch([sent("1", "t1", 500, 10)], now=T0 + 301)
    [violation] = evaluator.notifications()
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(violation)}}]}
    assert quarantine_handler.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert QUARANTINE_GROUP in evaluator.groups_of("t1")


def test_fails_at_cold_start_for_behaviors_it_cannot_run(world, monkeypatch):
    ml = {"name": "Ml", "metric": "aws:num-disconnects", "criteria": {"mlDetectionConfig": {"confidenceLevel": "HIGH"}}}
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [ml]}]}))
    with pytest.raises(handler.ConfigurationError) as raised:
        handler.config()
    assert str(raised.value) == (
        "invalid evaluator configuration: DETECT_PROFILES profiles[0].behaviors[0] ('Ml') is a ml behavior; the "
        "self-hosted evaluator runs rule behaviors (ML and statistical need managed Detect in this release)"
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
