"""Behavior.rule validation (one test per rule, exact message) and SecurityProfile rendering."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Match, Template

from constructs_lib import (
    AlertTopic,
    Behavior,
    BehaviorValidationError,
    ComparisonOperator,
    ConstructValidationError,
    FleetGroup,
    SecurityProfile,
)
from lambdas.shared.behavior_definition import BehaviorDefinition

GT = ComparisonOperator.GREATER_THAN


def messages(name: str = "Msgs", **overrides) -> Behavior:
    arguments = {
        "metric": "aws:num-messages-sent",
        "operator": GT,
        "threshold": 100,
        "duration": Duration.minutes(5),
        **overrides,
    }
    return Behavior.rule(name, **arguments)


def rule_error(**arguments) -> str:
    name = arguments.pop("name", "Msgs")
    base = {"metric": "aws:num-messages-sent", "operator": GT, "threshold": 100, "duration": Duration.minutes(5)}
    with pytest.raises(BehaviorValidationError) as raised:
        Behavior.rule(name, **{**base, **arguments})
    return str(raised.value)


@pytest.mark.parametrize("metric", ["aws:num-messages-sent", "aws:num-authorization-failures", "aws:num-disconnects"])
def test_rule_definition_round_trips_through_the_api_shape(metric):
    behavior = messages(metric=metric, datapoints_to_alarm=2, datapoints_to_clear=3)
    api = behavior.definition.to_api()
    assert api == {
        "name": "Msgs",
        "metric": metric,
        "criteria": {
            "comparisonOperator": "greater-than",
            "value": {"count": 100},
            "durationSeconds": 300,
            "consecutiveDatapointsToAlarm": 2,
            "consecutiveDatapointsToClear": 3,
        },
        "suppressAlerts": False,
    }
    assert BehaviorDefinition.from_api(api) == behavior.definition


def test_fails_when_name_is_invalid():
    assert rule_error(name="bad name") == "behavior 'bad name': name must be 1 to 128 characters of [a-zA-Z0-9:_-]"


def test_fails_when_metric_is_unknown():
    assert rule_error(metric="aws:nope") == (
        "behavior 'Msgs': metric 'aws:nope' is not supported; use one of aws:message-byte-size, "
        "aws:num-authorization-failures, aws:num-connection-attempts, aws:num-disconnects, "
        "aws:num-messages-received, aws:num-messages-sent"
    )


def test_fails_when_operator_is_unknown():
    assert rule_error(operator="in-cidr-set") == (
        "behavior 'Msgs': operator 'in-cidr-set' is not one of less-than, less-than-equals, greater-than, "
        "greater-than-equals"
    )


def test_fails_when_threshold_is_negative():
    assert rule_error(threshold=-1) == "behavior 'Msgs': threshold -1 must be a non-negative integer"


def test_fails_when_a_periodic_metric_has_no_duration():
    assert rule_error(duration=None) == (
        "behavior 'Msgs': aws:num-messages-sent needs a duration (5, 10, 15, 30 or 60 minutes)"
    )


def test_fails_when_a_per_message_metric_has_a_duration():
    assert rule_error(metric="aws:message-byte-size") == (
        "behavior 'Msgs': aws:message-byte-size is measured per message and takes no duration"
    )


def test_fails_when_duration_is_not_an_allowed_value():
    assert rule_error(duration=Duration.minutes(7)) == (
        "behavior 'Msgs': duration of 420 seconds is not one of 300, 600, 900, 1800, 3600 seconds"
    )


@pytest.mark.parametrize("argument", ["datapoints_to_alarm", "datapoints_to_clear"])
@pytest.mark.parametrize("count", [0, 11])
def test_fails_when_datapoints_are_out_of_range(argument, count):
    assert rule_error(**{argument: count}) == f"behavior 'Msgs': {argument} {count} must be between 1 and 10"


def test_fails_with_every_problem_at_once():
    message = rule_error(threshold=-5, datapoints_to_alarm=0)
    assert message == (
        "behavior 'Msgs': threshold -5 must be a non-negative integer; "
        "behavior 'Msgs': datapoints_to_alarm 0 must be between 1 and 10"
    )


@pytest.fixture(scope="module")
def profile_template() -> Template:
    stack = cdk.Stack(cdk.App(), "Detect")
    group = FleetGroup(stack, "Sensors", thing_group_name="sensors")
    SecurityProfile(
        stack,
        "Profile",
        security_profile_name="sensors-profile",
        behaviors=[
            messages(),
            Behavior.rule(
                "AuthFailures",
                metric="aws:num-authorization-failures",
                operator=GT,
                threshold=10,
                duration=Duration.minutes(5),
            ),
            Behavior.rule(
                "Disconnects",
                metric="aws:num-disconnects",
                operator=ComparisonOperator.GREATER_THAN_EQUALS,
                threshold=20,
                duration=Duration.minutes(15),
            ),
        ],
        targets=[group],
        alert_topic=AlertTopic(stack, "Alerts"),
    )
    return Template.from_stack(stack)


def test_security_profile_renders_behaviors_targets_and_alert_target(profile_template):
    profile_template.has_resource_properties(
        "AWS::IoT::SecurityProfile",
        {
            "SecurityProfileName": "sensors-profile",
            "Behaviors": Match.array_with(
                [
                    {
                        "Name": "Disconnects",
                        "Metric": "aws:num-disconnects",
                        "SuppressAlerts": False,
                        "Criteria": {
                            "ComparisonOperator": "greater-than-equals",
                            "Value": {"Count": "20"},
                            "DurationSeconds": 900,
                            "ConsecutiveDatapointsToAlarm": 1,
                            "ConsecutiveDatapointsToClear": 1,
                        },
                    }
                ]
            ),
            "TargetArns": [{"Fn::GetAtt": [Match.string_like_regexp("Sensors"), "Arn"]}],
            "AlertTargets": {
                "SNS": {
                    "AlertTargetArn": {"Ref": Match.string_like_regexp("Alerts")},
                    "RoleArn": {"Fn::GetAtt": [Match.string_like_regexp("ProfileAlertRole"), "Arn"]},
                }
            },
        },
    )


def test_alert_role_is_assumable_by_iot_only_and_may_only_publish(profile_template):
    profile_template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [Match.object_like({"Principal": {"Service": "iot.amazonaws.com"}})]
            },
            "Description": "Lets Device Defender publish this security profile's alerts",
        },
    )
    [policy] = [
        p
        for p in profile_template.find_resources("AWS::IAM::Policy").values()
        if "AlertRole" in str(p["Properties"]["Roles"])
    ]
    actions = [s["Action"] for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert actions == ["sns:Publish", ["kms:GenerateDataKey", "kms:Decrypt"]]


def test_fails_when_behavior_names_repeat_and_targets_are_missing():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        SecurityProfile(stack, "P", behaviors=[messages(), messages()], targets=[])
    assert str(raised.value) == (
        "S/P: behavior name 'Msgs' is used more than once; names must be unique; "
        "targets is empty; give at least one fleet group"
    )


def test_fails_when_more_than_100_behaviors():
    stack = cdk.Stack(cdk.App(), "S")
    group = FleetGroup(stack, "G")
    behaviors = [messages(name=f"B{i}") for i in range(101)]
    with pytest.raises(ConstructValidationError) as raised:
        SecurityProfile(stack, "P", behaviors=behaviors, targets=[group])
    assert raised.value.problems == ("behaviors has 101 entries; at most 100 are allowed",)
