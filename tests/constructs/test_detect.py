"""Detect as code: behaviors of every kind, one test per validation rule (exact message), custom
metrics, dimensions and security profiles."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Template

from constructs_lib import (
    AlertTopic,
    Behavior,
    BehaviorDefinition,
    BehaviorValidationError,
    ComparisonOperator,
    ConstructValidationError,
    CustomMetric,
    CustomMetricType,
    Dimension,
    FleetGroup,
    SecurityProfile,
    SecurityProfileTarget,
    StarterBehaviors,
)
from tests.constructs.matchers import attached_to, scoped_arn

LTE = ComparisonOperator.LESS_THAN_EQUALS
FIVE_MINUTES = Duration.minutes(5)


def messages(name: str = "Msgs", **overrides) -> Behavior:
    arguments = {"metric": "aws:num-messages-sent", "operator": LTE, "value": 100, "duration": FIVE_MINUTES}
    return Behavior.rule(name, **{**arguments, **overrides})


def error_of(factory, name: str = "Msgs", **arguments) -> str:
    with pytest.raises(BehaviorValidationError) as raised:
        factory(name, **arguments)
    return str(raised.value)


def rule_error(**overrides) -> str:
    base = {"metric": "aws:num-messages-sent", "operator": LTE, "value": 100, "duration": FIVE_MINUTES}
    return error_of(Behavior.rule, overrides.pop("name", "Msgs"), **{**base, **overrides})


def statistical_error(**overrides) -> str:
    base = {"metric": "aws:num-messages-sent", "operator": LTE, "percentile": "p90", "duration": FIVE_MINUTES}
    return error_of(Behavior.statistical, **{**base, **overrides})


def ml_error(**overrides) -> str:
    return error_of(Behavior.ml, **{"metric": "aws:num-messages-sent", **overrides})


@pytest.fixture(scope="module")
def custom() -> dict[str, CustomMetric]:
    stack = cdk.Stack(cdk.App(), "Custom")
    return {
        metric_type.value: CustomMetric(
            stack, metric_type.name, metric_name=f"m-{metric_type.value}", metric_type=metric_type
        )
        for metric_type in CustomMetricType
    }


@pytest.fixture(scope="module")
def topic_dimension() -> Dimension:
    return Dimension(
        cdk.Stack(cdk.App(), "Dim"), "Telemetry", dimension_name="telemetry", topic_filters=["dt/+/telemetry"]
    )


# --- every kind round-trips through the evaluator's shape -------------------------------------


def test_every_kind_round_trips_through_the_api_shape(custom, topic_dimension):
    behaviors = [
        messages(datapoints_to_alarm=2, datapoints_to_clear=3, dimension=topic_dimension, export_metric=True),
        Behavior.rule("Cidrs", metric="aws:source-ip-address", operator="in-cidr-set", value=["10.0.0.0/8"]),
        Behavior.rule("Ports", metric="aws:listening-tcp-ports", operator="in-port-set", value=[443, 8883]),
        Behavior.rule("Battery", metric=custom["number"], operator="greater-than", value=12.5),
        Behavior.rule("Codes", metric=custom["number-list"], operator="in-set", value=[1, 2.5]),
        Behavior.rule("Ssids", metric=custom["string-list"], operator="not-in-set", value=["open-wifi"]),
        Behavior.rule("Peers", metric=custom["ip-address-list"], operator="in-cidr-set", value=["192.168.0.0/16"]),
        Behavior.statistical(
            "Stat", metric="aws:message-byte-size", operator=LTE, percentile="p99", duration=FIVE_MINUTES
        ),
        Behavior.ml("Ml", metric="aws:num-disconnects", confidence="MEDIUM", suppress_alerts=True),
    ]
    for behavior in behaviors:
        serialized = json.dumps(behavior.definition.to_api())
        assert BehaviorDefinition.from_api(json.loads(serialized)) == behavior.definition, behavior.name


def test_rule_api_shape_is_what_create_security_profile_takes(topic_dimension):
    api = messages(dimension=topic_dimension, dimension_operator="NOT_IN").definition.to_api()
    assert api == {
        "name": "Msgs",
        "metric": "aws:num-messages-sent",
        "criteria": {
            "comparisonOperator": "less-than-equals",
            "value": {"count": 100},
            "durationSeconds": 300,
            "consecutiveDatapointsToAlarm": 1,
            "consecutiveDatapointsToClear": 1,
        },
        "suppressAlerts": False,
        "metricDimension": {"dimensionName": "telemetry", "operator": "NOT_IN"},
    }


# --- one test per validation rule, with its exact message -----------------------------------


def test_fails_when_name_is_invalid():
    assert rule_error(name="bad name") == "behavior 'bad name': name must be 1 to 128 characters of [a-zA-Z0-9:_-]"


def test_fails_when_metric_is_unknown():
    assert rule_error(metric="aws:nope") == (
        "behavior 'Msgs': metric 'aws:nope' is not an AWS-managed Detect metric; use a CustomMetric for your own "
        "metrics (see the metric catalog)"
    )


def test_fails_when_operator_is_unknown():
    assert rule_error(operator="between") == (
        "behavior 'Msgs': operator 'between' is not one of less-than, less-than-equals, greater-than, "
        "greater-than-equals, in-cidr-set, not-in-cidr-set, in-port-set, not-in-port-set, in-set, not-in-set"
    )


@pytest.mark.parametrize(
    ("operator", "needs"),
    [
        ("in-cidr-set", "an IP metric (CIDRs)"),
        ("not-in-port-set", "a port metric"),
        ("in-set", "a number-list or string-list custom metric"),
    ],
)
def test_fails_when_operator_does_not_fit_the_metric_kind(operator, needs):
    assert (
        rule_error(operator=operator)
        == f"behavior 'Msgs': operator '{operator}' needs {needs}, got aws:num-messages-sent"
    )


def test_fails_when_a_numeric_operator_is_used_on_an_ip_metric():
    assert rule_error(metric="aws:source-ip-address", operator=LTE, value=["10.0.0.0/8"], duration=None) == (
        "behavior 'Msgs': operator 'less-than-equals' needs a numeric metric, got aws:source-ip-address"
    )


def test_fails_when_operator_is_of_the_right_kind_but_not_allowed_on_the_metric():
    assert rule_error(metric="aws:disconnect-duration", operator="greater-than", duration=None) == (
        "behavior 'Msgs': operator 'greater-than' is not allowed on aws:disconnect-duration; use less-than-equals"
    )


@pytest.mark.parametrize(
    ("metric", "operator", "value", "shape"),
    [
        ("aws:num-messages-sent", LTE, -1, "a non-negative integer"),
        ("aws:num-messages-sent", LTE, 2.5, "a non-negative integer"),
        ("aws:source-ip-address", "in-cidr-set", ["10.0.0.300/8"], "a non-empty list of CIDRs"),
        ("aws:source-ip-address", "in-cidr-set", [], "a non-empty list of CIDRs"),
        ("aws:listening-tcp-ports", "in-port-set", [70000], "a non-empty list of ports (0 to 65535)"),
    ],
)
def test_fails_when_value_does_not_fit_the_metric_kind(metric, operator, value, shape):
    duration = FIVE_MINUTES if metric == "aws:num-messages-sent" else None
    message = rule_error(metric=metric, operator=operator, value=value, duration=duration)
    assert message == f"behavior 'Msgs': value {value!r} must be {shape} for {metric}"


def test_fails_when_a_list_is_given_for_a_count_metric():
    assert (
        rule_error(value=[1, 2])
        == "behavior 'Msgs': value [1, 2] must be a non-negative integer for aws:num-messages-sent"
    )


def test_fails_when_a_custom_metric_value_has_the_wrong_type(custom):
    assert rule_error(metric=custom["string-list"], operator="in-set", value=[1], duration=None) == (
        "behavior 'Msgs': value [1] must be a non-empty list of strings for m-string-list"
    )


def test_fails_when_a_periodic_metric_has_no_duration():
    assert rule_error(duration=None) == (
        "behavior 'Msgs': aws:num-messages-sent needs a duration (300, 600, 900, 1800 or 3600 seconds)"
    )


def test_fails_when_a_per_message_metric_has_a_duration():
    assert rule_error(metric="aws:message-byte-size") == (
        "behavior 'Msgs': aws:message-byte-size takes no duration in a rule behavior"
    )


def test_duration_is_optional_for_established_tcp_connections():
    for duration in (None, FIVE_MINUTES):
        messages(metric="aws:num-established-tcp-connections", duration=duration)


def test_fails_when_duration_is_not_an_allowed_value():
    assert rule_error(duration=Duration.minutes(7)) == (
        "behavior 'Msgs': duration of 420 seconds is not one of 300, 600, 900, 1800, 3600 seconds"
    )


@pytest.mark.parametrize("argument", ["datapoints_to_alarm", "datapoints_to_clear"])
@pytest.mark.parametrize("count", [0, 11])
def test_fails_when_datapoints_are_out_of_range(argument, count):
    assert rule_error(**{argument: count}) == f"behavior 'Msgs': {argument} {count} must be between 1 and 10"


def test_fails_with_every_problem_at_once():
    assert rule_error(value=-5, datapoints_to_alarm=0) == (
        "behavior 'Msgs': datapoints_to_alarm 0 must be between 1 and 10; "
        "behavior 'Msgs': value -5 must be a non-negative integer for aws:num-messages-sent"
    )


def test_fails_when_percentile_is_unknown():
    assert statistical_error(percentile="p95") == (
        "behavior 'Msgs': percentile 'p95' is not one of p0, p0.1, p0.01, p1, p10, p50, p90, p99, p99.9, p99.99, p100"
    )


def test_fails_when_statistical_behavior_is_on_a_list_metric():
    assert statistical_error(metric="aws:listening-tcp-ports", operator="in-port-set") == (
        "behavior 'Msgs': a statistical behavior needs a numeric metric that supports percentiles, "
        "got aws:listening-tcp-ports"
    )


def test_fails_when_statistical_behavior_has_no_duration():
    assert statistical_error(metric="aws:message-byte-size", duration=None) == (
        "behavior 'Msgs': a statistical behavior needs a duration (300, 600, 900, 1800 or 3600 seconds)"
    )


def test_fails_when_ml_is_asked_of_a_metric_it_does_not_support():
    assert (
        ml_error(metric="aws:source-ip-address") == "behavior 'Msgs': ML Detect does not support aws:source-ip-address"
    )


def test_fails_when_ml_is_asked_of_a_custom_metric_not_of_type_number(custom):
    assert ml_error(metric=custom["string-list"]) == (
        "behavior 'Msgs': ML Detect uses custom metrics of type number only, got 'm-string-list' (strings)"
    )


def test_ml_takes_a_custom_metric_of_type_number_and_a_dimension_where_the_metric_takes_one(custom, topic_dimension):
    assert Behavior.ml("Battery", metric=custom["number"]).definition.metric == "m-number"
    scoped = Behavior.ml("Msgs", metric="aws:num-messages-sent", dimension=topic_dimension)
    assert scoped.definition.to_api()["metricDimension"] == {"dimensionName": "telemetry", "operator": "IN"}
    assert ml_error(metric="aws:num-disconnects", dimension=topic_dimension) == (
        "behavior 'Msgs': aws:num-disconnects does not accept a dimension; aws:message-byte-size, "
        "aws:num-messages-sent, aws:num-messages-received and aws:num-authorization-failures do"
    )


def test_fails_when_ml_confidence_is_unknown():
    assert ml_error(confidence="SURE") == "behavior 'Msgs': confidence 'SURE' is not one of LOW, MEDIUM, HIGH"


def test_fails_when_an_ml_definition_carries_a_value():
    from iot_defender_runtime.model.behavior_definition import BehaviorKind, problems
    from iot_defender_runtime.model.metric_catalog import METRICS

    definition = BehaviorDefinition(
        name="Msgs", metric="aws:num-messages-sent", kind=BehaviorKind.ML, confidence="HIGH", value={"count": 1}
    )
    assert problems(definition, METRICS["aws:num-messages-sent"]) == [
        "behavior 'Msgs': an ML behavior takes no value and no operator: the model sets the threshold"
    ]


def test_fails_when_a_dimension_is_used_on_a_metric_without_dimensions(topic_dimension):
    assert rule_error(metric="aws:num-disconnects", dimension=topic_dimension) == (
        "behavior 'Msgs': aws:num-disconnects does not accept a dimension; aws:message-byte-size, "
        "aws:num-messages-sent, aws:num-messages-received and aws:num-authorization-failures do"
    )


def test_fails_when_a_dimension_is_used_on_a_custom_metric(custom, topic_dimension):
    message = rule_error(metric=custom["number"], operator=LTE, value=1, duration=None, dimension=topic_dimension)
    assert message == "behavior 'Msgs': a dimension cannot be used with custom metric 'm-number'"


def test_fails_when_dimension_operator_is_unknown(topic_dimension):
    assert rule_error(dimension=topic_dimension, dimension_operator="LIKE") == (
        "behavior 'Msgs': dimension operator 'LIKE' is not one of IN, NOT_IN"
    )


# --- custom metrics and dimensions ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"metric_name": "aws:battery", "metric_type": "number"},
            "S/M: metric_name 'aws:battery' may not start with 'aws:', which AWS-managed metrics use",
        ),
        (
            {"metric_name": "bad name", "metric_type": "number"},
            "S/M: metric_name 'bad name' must be 1 to 128 characters of [a-zA-Z0-9:_-]",
        ),
        (
            {"metric_name": "battery", "metric_type": "float"},
            "S/M: metric_type 'float' is not one of number, number-list, string-list, ip-address-list",
        ),
    ],
)
def test_fails_when_custom_metric_arguments_are_invalid(arguments, message):
    with pytest.raises(ConstructValidationError) as raised:
        CustomMetric(cdk.Stack(cdk.App(), "S"), "M", **arguments)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"dimension_name": "d", "topic_filters": []}, "S/D: topic_filters is empty; give 1 to 5 MQTT topic filters"),
        (
            {"dimension_name": "d", "topic_filters": ["t"] * 6},
            "S/D: topic_filters has 6 entries; at most 5 are allowed",
        ),
        (
            {"dimension_name": "a b", "topic_filters": ["t"]},
            "S/D: dimension_name 'a b' must be 1 to 128 characters of [a-zA-Z0-9:_-]",
        ),
    ],
)
def test_fails_when_dimension_arguments_are_invalid(arguments, message):
    with pytest.raises(ConstructValidationError) as raised:
        Dimension(cdk.Stack(cdk.App(), "S"), "D", **arguments)
    assert str(raised.value) == message


# --- security profiles -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def profile_template() -> Template:
    stack = cdk.Stack(cdk.App(), "Detect")
    group = FleetGroup(stack, "Sensors", thing_group_name="sensors")
    battery = CustomMetric(stack, "Battery", metric_name="battery", metric_type=CustomMetricType.NUMBER)
    telemetry = Dimension(stack, "Telemetry", dimension_name="telemetry", topic_filters=["dt/+/telemetry"])
    SecurityProfile(
        stack,
        "Profile",
        security_profile_name="sensors-profile",
        behaviors=[
            messages(dimension=telemetry, export_metric=True),
            Behavior.statistical(
                "Sizes", metric="aws:message-byte-size", operator=LTE, percentile="p99", duration=FIVE_MINUTES
            ),
            Behavior.ml("Disconnects", metric="aws:num-disconnects"),
            Behavior.rule("Battery", metric=battery, operator="greater-than", value=10),
            StarterBehaviors.unexpected_listening_ports(allowed_tcp_ports=[443]),
        ],
        targets=[group, SecurityProfileTarget.all_unregistered_things()],
        alert_topic=AlertTopic(stack, "Alerts"),
        metrics_export_topic="defender/metrics",
        additional_metrics_to_retain=["aws:num-authorization-failures", battery],
    )
    return Template.from_stack(stack)


def test_security_profile_renders_every_kind(profile_template):
    [profile] = profile_template.find_resources("AWS::IoT::SecurityProfile").values()
    by_name = {b["Name"]: b for b in profile["Properties"]["Behaviors"]}
    assert by_name["Msgs"]["Criteria"]["Value"] == {"Count": "100"}
    assert by_name["Msgs"]["MetricDimension"] == {"DimensionName": "telemetry", "Operator": "IN"}
    assert by_name["Msgs"]["ExportMetric"] is True
    assert by_name["Sizes"]["Criteria"]["StatisticalThreshold"] == {"Statistic": "p99"}
    assert by_name["Disconnects"]["Criteria"] == {
        "ConsecutiveDatapointsToAlarm": 1,
        "ConsecutiveDatapointsToClear": 1,
        "MlDetectionConfig": {"ConfidenceLevel": "HIGH"},
    }
    assert by_name["Battery"]["Criteria"]["Value"] == {"Number": 10}
    assert by_name["UnexpectedListeningPorts"]["Criteria"]["Value"] == {"Ports": [443]}
    assert profile["Properties"]["AdditionalMetricsToRetainV2"] == [
        {"Metric": "aws:num-authorization-failures"},
        {"Metric": "battery"},
    ]
    assert "all/unregistered-things" in json.dumps(profile["Properties"]["TargetArns"])
    assert any("Sensors" in json.dumps(arn) for arn in profile["Properties"]["TargetArns"])
    depends = profile["DependsOn"]
    assert any(d.startswith("Battery") for d in depends) and any(d.startswith("Telemetry") for d in depends)


def test_metrics_export_role_may_only_publish_to_the_export_topic(profile_template):
    [profile] = profile_template.find_resources("AWS::IoT::SecurityProfile").values()
    assert profile["Properties"]["MetricsExportConfig"]["MqttTopic"] == "defender/metrics"
    [policy] = profile_template.find_resources(
        "AWS::IAM::Policy", {"Properties": attached_to("MetricsExportRole")}
    ).values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "iot:Publish", "Effect": "Allow", "Resource": scoped_arn("iot", "topic/defender/metrics")}
    ]


def test_alert_role_is_assumable_by_iot_only_and_may_only_publish(profile_template):
    [policy] = profile_template.find_resources("AWS::IAM::Policy", {"Properties": attached_to("AlertRole")}).values()
    actions = [s["Action"] for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert actions == ["sns:Publish", ["kms:GenerateDataKey", "kms:Decrypt"]]


def test_fails_when_behavior_names_repeat_and_targets_are_missing():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        SecurityProfile(stack, "P", behaviors=[messages(), messages()], targets=[])
    assert str(raised.value) == (
        "S/P: behavior name 'Msgs' is used more than once; names must be unique; "
        "targets is empty; give at least one fleet group or SecurityProfileTarget"
    )


def test_fails_when_more_than_100_behaviors():
    stack = cdk.Stack(cdk.App(), "S")
    behaviors = [messages(name=f"B{i}") for i in range(101)]
    with pytest.raises(ConstructValidationError) as raised:
        SecurityProfile(stack, "P", behaviors=behaviors, targets=[FleetGroup(stack, "G")])
    assert raised.value.problems == ("behaviors has 101 entries; at most 100 are allowed",)


def test_fails_when_a_behavior_exports_without_an_export_topic():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        SecurityProfile(stack, "P", behaviors=[messages(export_metric=True)], targets=[FleetGroup(stack, "G")])
    assert str(raised.value) == "S/P: behaviors Msgs export their metric but metrics_export_topic is not set"


def test_fails_when_a_retained_metric_is_unknown():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        SecurityProfile(
            stack, "P", behaviors=[messages()], targets=[FleetGroup(stack, "G")], additional_metrics_to_retain=["cpu"]
        )
    assert (
        str(raised.value)
        == "S/P: additional_metrics_to_retain entry 'cpu' is not an AWS-managed metric or CustomMetric"
    )


def test_imported_security_profile_has_an_arn():
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="111122223333", region="eu-west-1"))
    profile = SecurityProfile.from_security_profile_name(stack, "P", "sensors-profile")
    assert "securityprofile/sensors-profile" in json.dumps(stack.resolve(profile.security_profile_arn))


def test_starter_behaviors_describe_normal_devices():
    # Criteria describe normal behavior: every numeric starter must be an upper bound, never "greater-than".
    starters = [
        StarterBehaviors.message_storm(),
        StarterBehaviors.credential_misuse(),
        StarterBehaviors.connection_churn(),
        StarterBehaviors.unexpected_listening_ports(allowed_tcp_ports=[443]),
    ]
    operators = {s.name: s.definition.comparison_operator for s in starters}
    assert operators == {
        "MessageStorm": "less-than-equals",
        "CredentialMisuse": "less-than-equals",
        "ConnectionChurn": "less-than-equals",
        "UnexpectedListeningPorts": "in-port-set",
    }


def test_fails_when_statistical_behavior_is_on_a_list_custom_metric(custom):
    assert statistical_error(metric=custom["number-list"], operator="in-set") == (
        "behavior 'Msgs': a statistical behavior needs a numeric metric that supports percentiles, got m-number-list"
    )
