"""SelfHostedDetect with TOPIC_FILTER dimensions and aws:disconnect-duration: the topic on each
telemetry record, the lifecycle rule, the dimensions in DETECT_PROFILES, and what still fails at synth."""

from __future__ import annotations

import aws_cdk as cdk
import pytest

from constructs_lib import (
    AlertTopic,
    Behavior,
    BehaviorValidationError,
    ComparisonOperator,
    ConstructValidationError,
    Dimension,
    SelfHostedDetect,
)
from iot_defender_runtime.model.detect_profiles import DetectProfiles
from iot_defender_runtime.model.lifecycle import LifecycleEvent
from iot_defender_runtime.model.topic_filter import TopicScope
from tests.detect_templates import detect_profiles, detect_profiles_text

LTE = ComparisonOperator.LESS_THAN_EQUALS
FIVE = cdk.Duration.minutes(5)


def of_type(template: dict, resource_type: str) -> list[dict]:
    return [r for r in template["Resources"].values() if r["Type"] == resource_type]


def rules_by_id(template: dict) -> dict[str, dict]:
    return {
        key: r["Properties"]["TopicRulePayload"]
        for key, r in template["Resources"].items()
        if r["Type"] == "AWS::IoT::TopicRule"
    }


@pytest.fixture(scope="module")
def template() -> dict:
    stack = cdk.Stack(cdk.App(), "S")
    telemetry = Dimension(stack, "Telemetry", dimension_name="telemetry", topic_filters=["dt/+/telemetry", "dt/#"])
    commands = Dimension(stack, "Commands", dimension_name="commands", topic_filters=["cmd/+"])
    behaviors = [
        Behavior.rule(
            "Sent", metric="aws:num-messages-sent", operator=LTE, value=9, duration=FIVE, dimension=telemetry
        ),
        Behavior.rule("Size", metric="aws:message-byte-size", operator=LTE, value=512, dimension=telemetry),
        Behavior.rule(
            "Received",
            metric="aws:num-messages-received",
            operator=LTE,
            value=50,
            duration=FIVE,
            dimension=commands,
            dimension_operator="NOT_IN",
        ),
        Behavior.statistical(
            "Denied",
            metric="aws:num-authorization-failures",
            operator=LTE,
            percentile="p90",
            duration=FIVE,
            dimension=commands,
        ),
        Behavior.rule("Away", metric="aws:disconnect-duration", operator=LTE, value=10),
    ]
    SelfHostedDetect(stack, "D", behaviors=behaviors, alert_topic=AlertTopic(stack, "A"))
    return cdk.assertions.Template.from_stack(stack).to_json()


def test_telemetry_records_carry_their_topic(template):
    [sql] = [p["Sql"] for key, p in rules_by_id(template).items() if "MessagesSent" in key]
    assert sql.startswith("SELECT clientid() AS thingName, 'message' AS kind, topic() AS topic, length(encode(")
    assert sql.endswith("timestamp() AS timestamp FROM '#'")


def test_one_lifecycle_rule_writes_every_connect_and_disconnect_for_disconnect_duration(template):
    [payload] = [p for k, p in rules_by_id(template).items() if "DisconnectDuration" in k]
    assert payload["Sql"] == (
        "SELECT clientId AS thingName, 'lifecycle' AS kind, eventType AS eventType, timestamp AS timestamp, "
        "versionNumber AS versionNumber, sessionIdentifier AS sessionIdentifier, disconnectReason AS "
        "disconnectReason FROM '$aws/events/presence/+/+'"
    )
    assert payload["Actions"][0]["Kinesis"]["PartitionKey"] == "${clientId}"
    assert "Sqs" in payload["ErrorAction"]
    # What that SQL selects from the guide's disconnect event is a record the evaluator reads
    event = {
        "clientId": "186b5",
        "timestamp": 1573002340451,
        "eventType": "disconnected",
        "sessionIdentifier": "a4666d2a7d844ae4ac5d7b38c9cb7967",
        "principalIdentifier": "12345678901234567890123456789012",
        "clientInitiatedDisconnect": True,
        "disconnectReason": "CLIENT_INITIATED_DISCONNECT",
        "versionNumber": 0,
    }
    record = {"thingName": event["clientId"], "kind": "lifecycle"} | {
        field: event[field]
        for field in ("eventType", "timestamp", "versionNumber", "sessionIdentifier", "disconnectReason")
    }
    assert LifecycleEvent.from_record(record) == LifecycleEvent(
        "186b5", "disconnected", 1573002340.451, 0, "a4666d2a7d844ae4ac5d7b38c9cb7967", "CLIENT_INITIATED_DISCONNECT"
    )


def test_the_iot_logs_give_received_messages_and_authorization_failures(template):
    [subscription] = of_type(template, "AWS::Logs::SubscriptionFilter")
    assert "AUTHORIZATION_FAILURE" in subscription["Properties"]["FilterPattern"]
    assert "Publish-Out" in subscription["Properties"]["FilterPattern"]


def test_the_profile_carries_its_dimensions_and_each_behavior_reads_back_its_topic_scope(template):
    [profile] = detect_profiles(template)
    assert profile["dimensions"] == {
        "telemetry": {"type": "TOPIC_FILTER", "stringValues": ["dt/+/telemetry", "dt/#"]},
        "commands": {"type": "TOPIC_FILTER", "stringValues": ["cmd/+"]},
    }
    scopes = {
        b.definition.name: b.topic_filter for b in DetectProfiles.from_json(detect_profiles_text(template)).behaviors
    }
    assert scopes == {
        "Sent": TopicScope(("dt/+/telemetry", "dt/#")),
        "Size": TopicScope(("dt/+/telemetry", "dt/#")),
        "Received": TopicScope(("cmd/+",), "NOT_IN"),
        "Denied": TopicScope(("cmd/+",)),
        "Away": None,
    }
    assert scopes["Received"]("cmd/reboot") is False and scopes["Received"]("dt/a/telemetry") is True


def test_without_a_dimension_the_profile_has_no_dimensions_and_no_lifecycle_record_rule():
    stack = cdk.Stack(cdk.App(), "S")
    behaviors = [Behavior.rule("Sent", metric="aws:num-messages-sent", operator=LTE, value=9, duration=FIVE)]
    SelfHostedDetect(stack, "D", behaviors=behaviors, alert_topic=AlertTopic(stack, "A"))
    template = cdk.assertions.Template.from_stack(stack).to_json()
    assert "dimensions" not in detect_profiles(template)[0]
    assert [k for k in rules_by_id(template) if "DisconnectDuration" in k] == []


def test_a_dimension_name_with_two_sets_of_filters_in_one_profile_fails_at_synth():
    stack = cdk.Stack(cdk.App(), "S")
    one = Dimension(stack, "One", dimension_name="telemetry", topic_filters=["dt/#"])
    other = Dimension(stack, "Other", dimension_name="telemetry", topic_filters=["cmd/#"])
    behaviors = [
        Behavior.rule("A", metric="aws:num-messages-sent", operator=LTE, value=9, duration=FIVE, dimension=one),
        Behavior.rule("B", metric="aws:num-messages-sent", operator=LTE, value=9, duration=FIVE, dimension=other),
    ]
    with pytest.raises(ConstructValidationError) as raised:
        SelfHostedDetect(stack, "D", behaviors=behaviors, alert_topic=AlertTopic(stack, "A"))
    assert raised.value.problems == (
        "behavior 'B' uses a dimension named 'telemetry' whose topic filters ['cmd/#'] differ from those of another "
        "of that name ['dt/#']; give each dimension its own name",
    )


@pytest.mark.parametrize("metric", ["aws:num-disconnects", "aws:source-ip-address", "aws:disconnect-duration"])
def test_a_dimension_on_a_metric_that_takes_none_fails_when_the_behavior_is_built(metric):
    stack = cdk.Stack(cdk.App(), "S")
    telemetry = Dimension(stack, "Telemetry", dimension_name="telemetry", topic_filters=["dt/#"])
    with pytest.raises(BehaviorValidationError) as raised:
        Behavior.rule("Scoped", metric=metric, operator=LTE, value=5, duration=FIVE, dimension=telemetry)
    assert (
        f"behavior 'Scoped': {metric} does not accept a dimension; aws:message-byte-size, aws:num-messages-sent, "
        "aws:num-messages-received and aws:num-authorization-failures do"
    ) in raised.value.problems
