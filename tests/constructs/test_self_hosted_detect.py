"""SelfHostedDetect: ingestion rules, stream, evaluator wiring, least privilege, validation; and
the one-argument switch on DeviceDefender."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest

from constructs_lib import (
    AlertTopic,
    Behavior,
    ComparisonOperator,
    ConstructValidationError,
    DetectMode,
    DeviceDefender,
    SelfHostedDetect,
    StarterBehaviors,
    apply_nag_packs,
)
from constructs_lib.synth_report import cfn_lint_findings
from iot_defender_runtime.model.detect_profiles import DetectProfiles
from tests.detect_templates import detect_profiles, detect_profiles_text, evaluator_variables

BEHAVIORS = [
    StarterBehaviors.unexpected_listening_ports(allowed_tcp_ports=[443, 8883]),
    StarterBehaviors.message_storm(),
    StarterBehaviors.connection_churn(),
    Behavior.rule(
        "Networks", metric="aws:source-ip-address", operator=ComparisonOperator.IN_CIDR_SET, value=["10.0.0.0/8"]
    ),
    Behavior.rule("Sizes", metric="aws:message-byte-size", operator=ComparisonOperator.LESS_THAN_EQUALS, value=4096),
    Behavior.rule(
        "Denied",
        metric="aws:num-authorization-failures",
        operator=ComparisonOperator.LESS_THAN_EQUALS,
        value=5,
        duration=cdk.Duration.minutes(5),
    ),
    Behavior.statistical(
        "LikeTheFleet",
        metric="aws:num-messages-sent",
        operator=ComparisonOperator.LESS_THAN_EQUALS,
        percentile="p99",
        duration=cdk.Duration.minutes(15),
    ),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict:
    # The same fleet switched to self-hosted Detect with one argument, synthesized with the nag packs
    outdir = tmp_path_factory.mktemp("self_hosted")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "SelfHosted")
    DeviceDefender(
        stack,
        "Defender",
        fleet_groups=["sensors"],
        behaviors=BEHAVIORS,
        detect_mode=DetectMode.SELF_HOSTED,
        notification_email="secops@example.com",
    )
    apply_nag_packs(app)
    assembly = app.synth()  # raises on any unacknowledged cdk-nag error
    assert cfn_lint_findings(Path(assembly.directory) / "SelfHosted.template.json") == []
    return assembly.get_stack_by_name("SelfHosted").template


def of_type(template: dict, resource_type: str) -> list[dict]:
    return [r for r in template["Resources"].values() if r["Type"] == resource_type]


def test_no_managed_security_profile_is_created(template):
    assert of_type(template, "AWS::IoT::SecurityProfile") == []


def test_topic_rules_write_datapoints_partitioned_by_client_id(template):
    rules = {
        r["Properties"]["TopicRulePayload"]["Sql"]: r["Properties"]["TopicRulePayload"]
        for r in of_type(template, "AWS::IoT::TopicRule")
    }
    assert len(rules) == 4
    sqls = "\n".join(rules)
    assert (
        "SELECT clientid() AS thingName, 'message' AS kind, topic() AS topic, length(encode(*, 'base64')) AS "
        "base64Length, "
        "endswith(encode(*, 'base64'), '=') AS padded1, endswith(encode(*, 'base64'), '==') AS padded2, "
        "timestamp() AS timestamp FROM '#'"
    ) in sqls
    assert "FROM '$aws/events/presence/connected/+'" in sqls
    assert "ipAddress AS value" in sqls
    assert (
        "SELECT *, topic(3) AS thingName, timestamp() AS receivedAt FROM '$aws/things/+/defender/metrics/json'" in sqls
    )
    keys = {p["Actions"][0]["Kinesis"]["PartitionKey"] for p in rules.values()}
    assert keys == {"${clientid()}", "${clientId}", "${topic(3)}"}
    assert all("Sqs" in p["ErrorAction"] for p in rules.values())


def test_authorization_failures_come_from_the_iot_log_group_into_the_stream(template):
    [subscription] = of_type(template, "AWS::Logs::SubscriptionFilter")
    properties = subscription["Properties"]
    assert properties["LogGroupName"] == "AWSIotLogsV2"
    assert properties["FilterPattern"] == '{ $.reason = "AUTHORIZATION_FAILURE" }'
    assert "Datapoints" in properties["DestinationArn"]["Fn::GetAtt"][0]
    role_id = properties["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for r in of_type(template, "AWS::IAM::Policy")
        if {"Ref": role_id} in r["Properties"]["Roles"]
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions <= {"kinesis:PutRecord", "kinesis:PutRecords", "kinesis:ListShards", "iam:PassRole"}


def test_message_size_rule_is_not_paid_for_when_no_behavior_needs_it():
    stack = cdk.Stack(cdk.App(), "S")
    SelfHostedDetect(stack, "D", behaviors=[StarterBehaviors.message_storm()], alert_topic=AlertTopic(stack, "A"))
    template = cdk.assertions.Template.from_stack(stack).to_json()
    [rule] = of_type(template, "AWS::IoT::TopicRule")
    assert "encode" not in rule["Properties"]["TopicRulePayload"]["Sql"]
    assert of_type(template, "AWS::Logs::SubscriptionFilter") == []


def test_rule_role_may_only_put_records_and_report_errors(template):
    statements = [
        s
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and "TopicRuleRole" in k
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert sorted(json.dumps(s["Action"]) for s in statements) == sorted(
        ['"kinesis:PutRecord"', '["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]']
    )


def test_evaluator_reads_the_stream_with_bisect_and_a_failure_destination(template):
    [mapping] = [
        m for m in of_type(template, "AWS::Lambda::EventSourceMapping") if "StartingPosition" in m["Properties"]
    ]
    properties = mapping["Properties"]
    assert properties["BisectBatchOnFunctionError"] is True
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "OnFailure" in properties["DestinationConfig"]


def test_evaluator_configuration_is_the_behaviors_and_validates_at_cold_start(template):
    variables = evaluator_variables(template)
    profiles = DetectProfiles.from_json(detect_profiles_text(template))
    assert [b.definition for b in profiles.behaviors] == [b.definition for b in BEHAVIORS]
    assert {b.targets.thing_groups for b in profiles.behaviors} == {frozenset({"sensors"})}
    assert (variables["SILENCE_SECONDS"], variables["MAX_CLOCK_SKEW_SECONDS"]) == ("172800", "60")


def test_silence_sweep_runs_every_five_minutes(template):
    [rule] = of_type(template, "AWS::Events::Rule")
    assert rule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert json.loads(rule["Properties"]["Targets"][0]["Input"]) == {"sweep": True}


def test_fails_for_behaviors_self_hosted_detect_cannot_run():
    from constructs_lib import Dimension

    stack = cdk.Stack(cdk.App(), "S")
    lte = ComparisonOperator.LESS_THAN_EQUALS
    five = cdk.Duration.minutes(5)
    telemetry = Dimension(stack, "Telemetry", dimension_name="telemetry", topic_filters=["fleet/#/telemetry"])
    behaviors = [
        Behavior.ml("Ml", metric="aws:num-disconnects"),
        Behavior.statistical("Sizes", metric="aws:message-byte-size", operator=lte, percentile="p99", duration=five),
        Behavior.rule(
            "Topics", metric="aws:num-messages-sent", operator=lte, value=9, duration=five, dimension=telemetry
        ),
    ]
    with pytest.raises(ConstructValidationError) as raised:
        SelfHostedDetect(
            stack,
            "D",
            behaviors=behaviors,
            alert_topic=AlertTopic(stack, "A"),
            max_batching_window=cdk.Duration.minutes(6),
            clock_skew=cdk.Duration.minutes(16),
            iot_log_group_name="no spaces",
        )
    assert raised.value.problems == (
        "behavior 'Sizes' is a statistical behavior on aws:message-byte-size, which is judged per message or per "
        "report; the self-hosted evaluator takes percentiles of window totals, so use a rule behavior or managed "
        "Detect",
        "dimension 'telemetry': topic filter 'fleet/#/telemetry': '#' must be the whole last level",
        "clock_skew 960 seconds must be 1 to 900 seconds",
        "max_batching_window 360 seconds must be 0 to 300 seconds",
        "iot_log_group_name 'no spaces' is not a log group name",
        "behavior 'Ml' is an ML behavior: its model is trained on the window history, so pass history=True (or "
        "WindowHistoryOptions(...)), or use managed Detect",
    )


def test_evaluator_may_read_group_membership_and_nothing_more_of_the_registry(template):
    statements = [
        s
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::Policy" and "SelfHostedDetectFunctionRole" in k
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    iot = {json.dumps(s["Action"]): json.dumps(s["Resource"]) for s in statements if "iot:" in json.dumps(s["Action"])}
    assert set(iot) == {'"iot:ListThingGroupsForThing"', '"iot:DescribeThingGroup"'}
    assert ":thing/*" in iot['"iot:ListThingGroupsForThing"']
    assert ":thinggroup/*" in iot['"iot:DescribeThingGroup"']


def test_several_profiles_share_one_stream_and_one_evaluator():
    from constructs_lib import DetectProfile, FleetGroup

    stack = cdk.Stack(cdk.App(), "S")
    sensors = FleetGroup(stack, "Sensors", thing_group_name="sensors")
    cameras = FleetGroup(stack, "Cameras", thing_group_name="cameras")
    SelfHostedDetect(
        stack,
        "D",
        profiles=[
            DetectProfile("sensors", [StarterBehaviors.message_storm()], [sensors]),
            DetectProfile("cameras", [StarterBehaviors.unexpected_listening_ports(allowed_tcp_ports=[443])], [cameras]),
        ],
        alert_topic=AlertTopic(stack, "A"),
    )
    template = cdk.assertions.Template.from_stack(stack).to_json()
    assert len(of_type(template, "AWS::Kinesis::Stream")) == 1
    profiles = detect_profiles(template)
    assert [(p["name"], p["targets"]["thingGroups"]) for p in profiles] == [
        ("sensors", ["sensors"]),
        ("cameras", ["cameras"]),
    ]
    assert len(of_type(template, "AWS::IoT::TopicRule")) == 2  # messages sent, agent reports


def test_fails_for_profiles_that_repeat_a_name_or_mix_with_behaviors():
    from constructs_lib import DetectProfile

    stack = cdk.Stack(cdk.App(), "S")
    storm = StarterBehaviors.message_storm()
    with pytest.raises(ConstructValidationError) as raised:
        SelfHostedDetect(
            stack,
            "D",
            behaviors=[storm],
            profiles=[DetectProfile("fleet", [storm]), DetectProfile("fleet", []), DetectProfile("bad name", [storm])],
            alert_topic=AlertTopic(stack, "A"),
        )
    assert raised.value.problems == (
        "give behaviors (and targets) for one profile, or profiles, not both",
        "profile name 'fleet' is used more than once; names must be unique",
        "profile 'fleet': behaviors is empty; give at least one rule or statistical behavior",
        "profile 'bad name': name 'bad name' must be 1 to 128 characters of [a-zA-Z0-9:_-]",
    )


def test_many_behaviors_are_compressed_to_fit_and_read_back_the_same():
    from iot_defender_runtime.model.metric_catalog import ComparisonOperator as Op

    stack = cdk.Stack(cdk.App(), "S")
    behaviors = [
        Behavior.rule(
            f"Storm{i}",
            metric="aws:num-messages-sent",
            operator=Op.LESS_THAN_EQUALS,
            value=100 + i,
            duration=cdk.Duration.minutes(5),
        )
        for i in range(40)
    ]
    assert len(json.dumps([b.definition.to_api() for b in behaviors])) > 3000
    SelfHostedDetect(stack, "D", behaviors=behaviors, alert_topic=AlertTopic(stack, "A"))
    template = cdk.assertions.Template.from_stack(stack).to_json()
    variables = evaluator_variables(template)
    assert "behaviorsGzip" in variables["DETECT_PROFILES"] and len(variables["DETECT_PROFILES"]) <= 3000
    profiles = DetectProfiles.from_json(variables["DETECT_PROFILES"])
    assert [b.definition for b in profiles.behaviors] == [b.definition for b in behaviors]


def test_fails_when_even_compressed_profiles_do_not_fit():
    from constructs_lib import DetectProfile
    from iot_defender_runtime.model.metric_catalog import ComparisonOperator as Op

    stack = cdk.Stack(cdk.App(), "S")
    profiles = [
        DetectProfile(
            f"p{p}",
            [
                Behavior.rule(
                    f"Networks{i}",
                    metric="aws:source-ip-address",
                    operator=Op.IN_CIDR_SET,
                    value=[f"10.{p}.{i}.{j}/32" for j in range(40)],
                )
                for i in range(10)
            ],
        )
        for p in range(10)
    ]
    with pytest.raises(ConstructValidationError) as raised:
        SelfHostedDetect(stack, "D", profiles=profiles, alert_topic=AlertTopic(stack, "A"))
    [problem] = raised.value.problems
    assert problem.startswith("the profiles are ") and problem.endswith(
        "characters as compressed JSON; at most 3000 fit in the evaluator's environment: split them over two "
        "SelfHostedDetect constructs"
    )


def test_one_log_subscription_serves_authorization_failures_and_messages_received():
    from iot_defender_runtime.model.metric_catalog import ComparisonOperator as Op

    stack = cdk.Stack(cdk.App(), "S")
    received = Behavior.rule(
        "Received",
        metric="aws:num-messages-received",
        operator=Op.LESS_THAN_EQUALS,
        value=50,
        duration=cdk.Duration.minutes(5),
    )
    SelfHostedDetect(
        stack, "D", behaviors=[StarterBehaviors.credential_misuse(), received], alert_topic=AlertTopic(stack, "A")
    )
    template = cdk.assertions.Template.from_stack(stack).to_json()
    [subscription] = of_type(template, "AWS::Logs::SubscriptionFilter")
    assert subscription["Properties"]["FilterPattern"] == (
        '{ ($.reason = "AUTHORIZATION_FAILURE") || (($.eventType = "Publish-Out") && ($.status = "Success")) }'
    )


EVALUATOR_METRICS = {
    "metric_transitions": "Transitions",
    "metric_rejected_records": "RejectedRecords",
    "metric_state_writes": "StateWrites",
    "metric_redelivered_datapoints": "RedeliveredDatapoints",
    "metric_windows_without_fleet_threshold": "WindowsWithoutFleetThreshold",
    "metric_unwatched_things": "UnwatchedThings",
    "metric_late_datapoints": "LateDatapoints",
    "metric_future_datapoints": "FutureDatapoints",
}


def storm_detect() -> SelfHostedDetect:
    stack = cdk.Stack(cdk.App(), "S")
    return SelfHostedDetect(
        stack, "D", behaviors=[StarterBehaviors.message_storm()], alert_topic=AlertTopic(stack, "A")
    )


@pytest.fixture(scope="module")
def detect() -> SelfHostedDetect:
    return storm_detect()


@pytest.mark.parametrize(("method", "name"), EVALUATOR_METRICS.items())
def test_metric_methods_name_what_the_evaluator_publishes(detect, method, name):
    # The evaluator's Powertools Metrics: its namespace and service are the function's environment
    variables = evaluator_variables(cdk.assertions.Template.from_stack(cdk.Stack.of(detect)).to_json())
    metric = getattr(detect, method)()
    assert (metric.namespace, metric.metric_name) == (variables["POWERTOOLS_METRICS_NAMESPACE"], name)
    assert metric.namespace == "DeviceDefender/SelfHostedDetect"
    assert metric.dimensions == {"service": variables["POWERTOOLS_SERVICE_NAME"]} == {"service": "detect-evaluator"}
    assert (metric.statistic, metric.period.to_seconds()) == ("Sum", 300)


@pytest.mark.parametrize("method", EVALUATOR_METRICS)
def test_metric_methods_take_cloudwatch_metric_options(method):
    detect = storm_detect()
    assert getattr(detect, method)(label="shown").label == "shown"
    metric = getattr(detect, method)(period=cdk.Duration.minutes(1), statistic="Maximum")
    assert (metric.period.to_seconds(), metric.statistic) == (60, "Maximum")
    assert metric.dimensions == {"service": "detect-evaluator"}
    stack = cdk.Stack.of(detect)
    metric.create_alarm(stack, f"{method}Alarm", threshold=1, evaluation_periods=1)
    cdk.assertions.Template.from_stack(stack).has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "DeviceDefender/SelfHostedDetect",
            "MetricName": EVALUATOR_METRICS[method],
            "Dimensions": [{"Name": "service", "Value": "detect-evaluator"}],
            "Period": 60,
            "Statistic": "Maximum",
        },
    )


def test_the_sweep_reads_how_far_each_shard_has_been_counted(template):
    # The sweep judges windows by stream time: it lists the open shards and reads one record after the
    # last one counted, with the read the event source mapping already grants, on this stream only.
    [stream_id] = [key for key, r in template["Resources"].items() if r["Type"] == "AWS::Kinesis::Stream"]
    assert evaluator_variables(template)["STREAM_ARN"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    statements = [
        s
        for policy in of_type(template, "AWS::IAM::Policy")
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if {"kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"} <= set(s["Action"])
    ]
    assert statements and all(s["Resource"] == {"Fn::GetAtt": [stream_id, "Arn"]} for s in statements)
