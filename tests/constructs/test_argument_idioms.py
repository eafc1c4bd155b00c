"""Typed enums where strings were taken, Duration arguments that say what to pass, fleet_groups as a
list of names, and DeviceDefender's opt-in stack outputs."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Template

from constructs_lib import (
    AlertTopic,
    Behavior,
    BehaviorValidationError,
    ComparisonOperator,
    Confidence,
    ConstructValidationError,
    DeviceDefender,
    Dimension,
    DimensionOperator,
    QuarantineGroup,
    QuarantineResponder,
    SelfHostedDetect,
    StarterBehaviors,
)

AT_MOST = ComparisonOperator.LESS_THAN_EQUALS


def topic_dimension() -> Dimension:
    return Dimension(cdk.Stack(cdk.App(), "Dimensions"), "Telemetry", dimension_name="telemetry", topic_filters=["t/#"])


@pytest.mark.parametrize("confidence", [Confidence.LOW, "LOW"])
def test_ml_confidence_takes_the_enum_and_the_documented_string(confidence):
    behavior = Behavior.ml("Ml", metric="aws:num-messages-sent", confidence=confidence)
    assert behavior.definition.confidence == "LOW"
    assert type(behavior.definition.confidence) is str  # plain data, shared with the evaluator


@pytest.mark.parametrize("operator", [DimensionOperator.NOT_IN, "NOT_IN"])
def test_dimension_operator_takes_the_enum_and_the_documented_string(operator):
    behavior = Behavior.rule(
        "Msgs",
        metric="aws:num-messages-sent",
        operator=AT_MOST,
        value=10,
        duration=Duration.minutes(5),
        dimension=topic_dimension(),
        dimension_operator=operator,
    )
    assert behavior.definition.dimension is not None
    assert behavior.definition.dimension.operator == "NOT_IN"
    assert type(behavior.definition.dimension.operator) is str


def test_fails_when_a_rule_duration_is_not_a_duration():
    with pytest.raises(BehaviorValidationError) as raised:
        Behavior.rule("Msgs", metric="aws:num-messages-sent", operator=AT_MOST, value=10, duration=300)  # type: ignore[arg-type]
    assert str(raised.value) == "behavior 'Msgs': duration 300 must be an aws_cdk.Duration, e.g. Duration.minutes(5)"


def test_fails_when_a_statistical_duration_is_not_a_duration():
    with pytest.raises(BehaviorValidationError) as raised:
        Behavior.statistical(
            "Msgs",
            metric="aws:num-messages-sent",
            operator=AT_MOST,
            percentile="p90",
            duration="5m",  # type: ignore[arg-type]
        )
    assert str(raised.value) == "behavior 'Msgs': duration '5m' must be an aws_cdk.Duration, e.g. Duration.minutes(5)"


def test_fails_when_a_starter_behaviors_per_is_not_a_duration():
    with pytest.raises(BehaviorValidationError) as raised:
        StarterBehaviors.connection_churn(per=900)  # type: ignore[arg-type]
    assert str(raised.value) == (
        "behavior 'ConnectionChurn': per 900 must be an aws_cdk.Duration, e.g. Duration.minutes(15)"
    )


def test_fails_when_self_hosted_detect_durations_are_not_durations():
    stack = cdk.Stack(cdk.App(), "Stack")
    with pytest.raises(ConstructValidationError) as raised:
        SelfHostedDetect(
            stack,
            "Detect",
            alert_topic=AlertTopic(stack, "Alerts"),
            behaviors=[StarterBehaviors.message_storm()],
            silence=172800,  # type: ignore[arg-type]
            clock_skew=60,  # type: ignore[arg-type]
            max_batching_window="30s",  # type: ignore[arg-type]
        )
    assert str(raised.value) == (
        "Stack/Detect: silence 172800 must be an aws_cdk.Duration, e.g. Duration.days(2); "
        "clock_skew 60 must be an aws_cdk.Duration, e.g. Duration.minutes(1); "
        "max_batching_window '30s' must be an aws_cdk.Duration, e.g. Duration.seconds(30)"
    )


def test_fails_when_fleet_groups_is_one_string():
    # Given a name where a list of names is expected (it used to make one group per letter)
    stack = cdk.Stack(cdk.App(), "Stack")
    with pytest.raises(ConstructValidationError) as raised:
        DeviceDefender(stack, "Defender", fleet_groups="sensors", notification_email="ops@example.com")
    assert str(raised.value) == (
        "Stack/Defender: fleet_groups 'sensors' must be a list of thing group names or FleetGroups, e.g. ['sensors']"
    )


def test_fails_with_every_bad_fleet_group_under_its_index():
    stack = cdk.Stack(cdk.App(), "Stack")
    with pytest.raises(ConstructValidationError) as raised:
        DeviceDefender(
            stack,
            "Defender",
            fleet_groups=["sensors", "bad name", "also/bad", 3],  # type: ignore[list-item]
            notification_email="ops@example.com",
        )
    assert str(raised.value) == (
        "Stack/Defender: fleet_groups[1] 'bad name' must be 1 to 128 characters of [a-zA-Z0-9:_-]; "
        "fleet_groups[2] 'also/bad' must be 1 to 128 characters of [a-zA-Z0-9:_-]; "
        "fleet_groups[3] 3 must be a thing group name or a FleetGroup"
    )


def test_outputs_are_what_the_operator_commands_need():
    # Given DeviceDefender(outputs=True)
    stack = cdk.Stack(cdk.App(), "Stack")
    defender = DeviceDefender(
        stack, "Defender", fleet_groups=["sensors"], notification_email="ops@example.com", outputs=True
    )
    outputs = Template.from_stack(stack).to_json()["Outputs"]
    # Then the output keys are exactly those the README's commands name, with the resources' names
    assert set(outputs) == {"QuarantineGroupName", "StateTableName", "NotifyTopicArn"}
    resolve = stack.resolve
    assert outputs["QuarantineGroupName"]["Value"] == resolve(defender.quarantine_group.thing_group_name)
    assert outputs["StateTableName"]["Value"] == resolve(defender.responder.table.table_name)
    assert outputs["NotifyTopicArn"]["Value"] == resolve(defender.notification_topic.topic_arn)
    assert outputs["StateTableName"]["Description"] == "STATE_TABLE_NAME for the operator CLIs"


def test_no_outputs_by_default():
    stack = cdk.Stack(cdk.App(), "Stack")
    DeviceDefender(stack, "Defender", fleet_groups=["sensors"], notification_email="ops@example.com")
    assert "Outputs" not in Template.from_stack(stack).to_json()


def test_fails_when_two_device_defenders_of_a_stack_ask_for_outputs():
    stack = cdk.Stack(cdk.App(), "Stack")
    DeviceDefender(stack, "First", fleet_groups=["sensors"], notification_email="ops@example.com", outputs=True)
    with pytest.raises(ConstructValidationError) as raised:
        DeviceDefender(stack, "Second", fleet_groups=["gateways"], notification_email="ops@example.com", outputs=True)
    assert str(raised.value) == (
        "Stack/Second: outputs True, but the stack already has QuarantineGroupName, StateTableName, NotifyTopicArn; "
        "one DeviceDefender per stack can add its outputs"
    )


def test_fails_when_a_metric_period_is_not_a_duration():
    stack = cdk.Stack(cdk.App(), "Stack")
    responder = QuarantineResponder(stack, "Responder", quarantine_group=QuarantineGroup(stack, "Quarantine"))
    with pytest.raises(TypeError) as raised:
        responder.metric_breaker_trips(period=300)  # type: ignore[typeddict-item]
    assert str(raised.value) == (
        "metric BreakerTrips: period 300 must be an aws_cdk.Duration, e.g. Duration.minutes(5)"
    )
