"""Self-hosted Detect through the handler on moto: TOPIC_FILTER dimensions scope a behavior's datapoints
to their MQTT topics, and ``aws:disconnect-duration`` comes from lifecycle events (out of order and
duplicated as AWS IoT may deliver them) and the sweep."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from iot_defender_runtime.detect_evaluator import handler
from iot_defender_runtime.model.behavior_definition import BehaviorDefinition, BehaviorKind, DimensionFilter
from tests.lambdas.test_detect_evaluator import T0, at_most, kinesis_record

COMMANDS = {"commands": {"type": "TOPIC_FILTER", "stringValues": ["fleet/+/commands/#"]}}


def with_dimension_profile(monkeypatch, *behaviors: BehaviorDefinition) -> None:
    profile = {"name": "fleet", "behaviors": [b.to_api() for b in behaviors], "dimensions": COMMANDS}
    monkeypatch.setenv("DETECT_PROFILES", json.dumps({"profiles": [profile]}))
    handler.clear_caches()


def message(sequence: str, thing: str, topic: str, seconds: float) -> dict[str, Any]:
    body = {"thingName": thing, "kind": "message", "topic": topic, "timestamp": int((T0 + seconds) * 1000)}
    return kinesis_record(sequence, body)


@pytest.mark.parametrize(("operator", "counted"), [("IN", 3), ("NOT_IN", 10)])
def test_a_dimension_counts_only_the_messages_on_its_topics(world, monkeypatch, operator, counted):
    # 3 command messages and 10 telemetry messages in one window; at most 2 allowed
    scoped = replace(at_most("Commands", "aws:num-messages-sent", 2), dimension=DimensionFilter("commands", operator))
    with_dimension_profile(monkeypatch, scoped)
    records = [message(str(i), "t1", "fleet/t1/commands/reboot", 10 + i) for i in range(3)]
    records += [message(str(10 + i), "t1", "fleet/t1/telemetry", 20 + i) for i in range(10)]
    handler.evaluate_batch(records, now=T0 + 361)
    [alarm] = world.notifications()
    assert alarm["metricValue"] == {"count": counted}
    assert alarm["behavior"]["metricDimension"] == {"dimensionName": "commands", "operator": operator}


DISCONNECTED_TOO_LONG = BehaviorDefinition(
    name="Offline",
    metric="aws:disconnect-duration",
    kind=BehaviorKind.RULE,
    comparison_operator="less-than-equals",
    value={"count": 10},  # at most 10 minutes disconnected
)


def lifecycle(sequence: str, event: str, seconds: float, version: int, session: str = "s1") -> dict[str, Any]:
    body = {
        "thingName": "t1",
        "kind": "lifecycle",
        "eventType": event,
        "timestamp": int((T0 + seconds) * 1000),
        "versionNumber": version,
        "sessionIdentifier": session,
    }
    if event == "disconnected":
        body["disconnectReason"] = "CONNECTION_LOST"
    return kinesis_record(sequence, body)


@pytest.fixture
def offline(world, monkeypatch):
    monkeypatch.setenv(
        "DETECT_PROFILES", json.dumps({"profiles": [{"name": "fleet", "behaviors": [DISCONNECTED_TOO_LONG.to_api()]}]})
    )
    handler.clear_caches()
    return world


def test_a_thing_disconnected_too_long_alarms_at_the_sweep_and_clears_when_it_reconnects(offline):
    handler.evaluate_batch([lifecycle("1", "connected", 0, 1), lifecycle("2", "disconnected", 60, 1)], now=T0 + 61)
    assert offline.notifications() == []
    handler.sweep(now=T0 + 60 + 10 * 60)  # 10 minutes: still normal
    assert offline.notifications() == []
    handler.sweep(now=T0 + 60 + 11 * 60)  # 11 minutes
    [alarm] = offline.notifications()
    assert (alarm["violationEventType"], alarm["metricValue"]) == ("in-alarm", {"count": 11})
    handler.evaluate_batch([lifecycle("3", "connected", 800, 2, session="s2")], now=T0 + 801)
    [cleared] = offline.notifications()
    assert (cleared["violationEventType"], cleared["violationId"]) == ("alarm-cleared", alarm["violationId"])


def test_lifecycle_events_out_of_order_and_duplicated_leave_the_thing_connected(offline):
    # The connect of the same session arrives after its disconnect's earlier duplicate, and the old
    # disconnect again after the new connect: the latest event is the connect of version 2.
    records = [
        lifecycle("1", "disconnected", 60, 1),
        lifecycle("2", "connected", 0, 1),
        lifecycle("3", "connected", 120, 2, session="s2"),
        lifecycle("4", "disconnected", 60, 1),
    ]
    assert handler.evaluate_batch(records, now=T0 + 121) == {"batchItemFailures": []}
    handler.sweep(now=T0 + 3600)
    assert offline.notifications() == []


def test_a_disconnected_things_alarm_is_not_invalidated_by_its_silence(offline):
    handler.evaluate_batch([lifecycle("1", "disconnected", 0, 1)], now=T0 + 1)
    handler.sweep(now=T0 + 20 * 60)
    [alarm] = offline.notifications()
    handler.sweep(now=T0 + 3 * 86400)  # three days later, still disconnected: still in alarm
    assert offline.notifications() == []
    assert alarm["violationEventType"] == "in-alarm"


def test_a_lifecycle_record_with_a_bad_event_type_fails_alone(offline):
    bad = kinesis_record("1", {"thingName": "t1", "kind": "lifecycle", "eventType": "rebooted", "timestamp": T0 * 1000})
    good = lifecycle("2", "disconnected", 0, 1)
    assert handler.evaluate_batch([bad, good], now=T0 + 1) == {"batchItemFailures": [{"itemIdentifier": "1"}]}
