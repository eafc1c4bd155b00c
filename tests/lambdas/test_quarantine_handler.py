"""The quarantine handler on moto: registry state, notifications, records and batch failures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iot_defender_runtime.quarantine import handler
from tests.lambdas.conftest import FLEET_GROUP, QUARANTINE_GROUP, REGION, LambdaContext, load_event


def sqs_record(body: str, message_id: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1582745400000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1582745400001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:defender-alerts",
        "awsRegion": REGION,
    }


def sns_wrapped(violation: dict[str, Any]) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "5a1c4a0e-0000-0000-0000-000000000000",
            "TopicArn": f"arn:aws:sns:{REGION}:123456789012:defender-alerts",
            "Message": json.dumps(violation),
            "Timestamp": "2020-02-26T19:30:00.000Z",
        }
    )


def invoke(*records: dict[str, Any]) -> dict[str, Any]:
    return handler.lambda_handler({"Records": list(records)}, LambdaContext())


def test_in_alarm_moves_thing_into_quarantine_records_groups_and_notifies(world):
    # Given a thing in the fleet group and an SNS-wrapped in-alarm violation
    world.add_thing("myIoTDevice")
    violation = load_event("violation_in_alarm_rule.json")

    # When the batch is processed
    response = invoke(sqs_record(sns_wrapped(violation), "m1"))

    # Then the thing is in the quarantine group, its prior groups are recorded, and operators hear of it
    assert response == {"batchItemFailures": []}
    assert world.groups_of("myIoTDevice") == sorted([FLEET_GROUP, QUARANTINE_GROUP])
    record = world.record_of("myIoTDevice")
    assert [g["S"] for g in record["groupsBefore"]["L"]] == [FLEET_GROUP]
    assert record["violationId"]["S"] == "123456789"
    [notification] = world.notifications()
    assert notification["thingName"] == "myIoTDevice"
    assert notification["decision"]["outcome"] == "remediate"
    assert notification["decision"]["rule"] == "quarantine-in-alarm"
    assert notification["actionsTaken"] == [f"added to thing group {QUARANTINE_GROUP}"]
    assert notification["dryRun"] is False
    assert notification["violation"]["violationId"] == "123456789"
    assert notification["violation"]["behavior"]["name"] == "messageSize"
    assert "in-alarm" in notification["subject"]


def test_raw_delivery_body_is_accepted(world):
    world.add_thing("myIoTDevice")
    response = invoke(sqs_record(json.dumps(load_event("violation_in_alarm_rule.json")), "m1"))
    assert response == {"batchItemFailures": []}
    assert QUARANTINE_GROUP in world.groups_of("myIoTDevice")


def test_fails_when_a_record_is_malformed_only_that_record_is_reported(world):
    # Given a batch with one good violation between two bad records
    world.add_thing("myIoTDevice")
    good = sqs_record(sns_wrapped(load_event("violation_in_alarm_rule.json")), "good")
    not_json = sqs_record("{not json", "not-json")
    missing_thing = load_event("violation_in_alarm_rule.json")
    del missing_thing["thingName"]
    invalid = sqs_record(json.dumps(missing_thing), "no-thing-name")

    # When processed
    response = invoke(not_json, good, invalid)

    # Then only the two bad records fail, and the good one took effect
    assert response == {"batchItemFailures": [{"itemIdentifier": "not-json"}, {"itemIdentifier": "no-thing-name"}]}
    assert QUARANTINE_GROUP in world.groups_of("myIoTDevice")
    assert len(world.notifications()) == 1


@pytest.mark.parametrize(
    "body",
    ["[1, 2, 3]", '"a string"', json.dumps({"Type": "SubscriptionConfirmation", "Message": "{}"})],
    ids=["json-list", "json-string", "sns-not-a-notification"],
)
def test_fails_when_body_is_not_a_violation(world, body):
    assert invoke(sqs_record(body, "bad")) == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert world.notifications() == []


def test_exempt_thing_is_left_alone_and_the_notification_says_why(world):
    world.add_thing("myIoTDevice", attributes={"quarantine_exempt": "true"})
    response = invoke(sqs_record(json.dumps(load_event("violation_in_alarm_rule.json")), "m1"))
    assert response == {"batchItemFailures": []}
    assert world.groups_of("myIoTDevice") == [FLEET_GROUP]
    assert world.record_of("myIoTDevice") is None
    [notification] = world.notifications()
    assert notification["decision"]["outcome"] == "exempt"
    assert notification["actionsTaken"] == []


@pytest.mark.parametrize(
    ("event_file", "thing"),
    [
        ("violation_alarm_cleared_rule.json", "DefenderWorkshopThing"),
        ("violation_alarm_invalidated_ml.json", "lightbulb-1"),
    ],
)
def test_cleared_and_invalidated_events_notify_only(world, event_file, thing):
    world.add_thing(thing)
    response = invoke(sqs_record(json.dumps(load_event(event_file)), "m1"))
    assert response == {"batchItemFailures": []}
    assert world.groups_of(thing) == [FLEET_GROUP]
    [notification] = world.notifications()
    assert notification["decision"] == {
        "outcome": "no-matching-rule",
        "rule": None,
        "actions": ["notify"],
        "reason": "no remediation rule matches",
    }


def test_dry_run_decides_and_notifies_but_changes_nothing(world, monkeypatch):
    monkeypatch.setenv("DRY_RUN", "true")
    world.add_thing("myIoTDevice")
    response = invoke(sqs_record(json.dumps(load_event("violation_in_alarm_rule.json")), "m1"))
    assert response == {"batchItemFailures": []}
    assert world.groups_of("myIoTDevice") == [FLEET_GROUP]
    assert world.record_of("myIoTDevice") is None
    [notification] = world.notifications()
    assert notification["decision"]["outcome"] == "remediate"
    assert notification["actionsTaken"] == []
    assert notification["dryRun"] is True
    assert notification["subject"].startswith("[DRY RUN]")


def test_unknown_thing_is_a_clear_permanent_outcome_not_a_retry(world):
    response = invoke(sqs_record(json.dumps(load_event("violation_in_alarm_rule.json")), "m1"))
    assert response == {"batchItemFailures": []}
    [notification] = world.notifications()
    assert notification["decision"]["outcome"] == "thing-not-found"


def test_second_in_alarm_keeps_the_first_record_of_groups_before(world):
    world.add_thing("myIoTDevice")
    first = load_event("violation_in_alarm_rule.json")
    invoke(sqs_record(json.dumps(first), "m1"))
    second = {**first, "violationId": "987654321"}
    invoke(sqs_record(json.dumps(second), "m2"))
    record = world.record_of("myIoTDevice")
    assert record["violationId"]["S"] == "123456789"
    assert [g["S"] for g in record["groupsBefore"]["L"]] == [FLEET_GROUP]
    outcomes = [n["decision"]["outcome"] for n in world.notifications()]
    assert outcomes == ["remediate", "already-quarantined"]


def test_direct_sns_event_is_handled(world):
    world.add_thing("myIoTDevice")
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {"Type": "Notification", "Message": json.dumps(load_event("violation_in_alarm_rule.json"))},
            }
        ]
    }
    assert handler.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert QUARANTINE_GROUP in world.groups_of("myIoTDevice")


def test_fails_when_configuration_is_invalid_naming_the_variable(world, monkeypatch):
    from iot_defender_runtime.remediation.config import ConfigurationError

    monkeypatch.setenv("DRY_RUN", "maybe")
    monkeypatch.delenv("STATE_TABLE_NAME")
    handler.runtime.cache_clear()
    with pytest.raises(ConfigurationError) as raised:
        handler.runtime()
    assert str(raised.value) == (
        "invalid quarantine configuration: STATE_TABLE_NAME is required and was not set; "
        "DRY_RUN 'maybe' must be 'true' or 'false'"
    )
