"""QuarantineResponder: wiring, function settings, least-privilege IAM, alarms and validation."""

from __future__ import annotations

import warnings

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk.assertions import Match, Template

from constructs_lib import (
    AlertTopic,
    ConstructValidationError,
    QuarantineGroup,
    QuarantineResponder,
    RemediationAction,
    RemediationPolicy,
    RemediationRule,
)
from tests.constructs.matchers import arn_of, attached_to, policy_with, scoped_arn
from tests.constructs.response_cases import (
    BATCH_INTAKE,
    REPO,
    assert_metric_method,
    assert_warned,
    published_metric_names,
)


@pytest.fixture(scope="module")
def stack_and_responder() -> tuple[cdk.Stack, QuarantineResponder]:
    stack = cdk.Stack(cdk.App(), "Response")
    responder = QuarantineResponder(
        stack,
        "Responder",
        quarantine_group=QuarantineGroup(stack, "Quarantine", thing_group_name="quarantine"),
        alert_topic=AlertTopic(stack, "Alerts"),
        dry_run=True,
        batch_size=5,
        reserved_concurrency=3,
    )
    return stack, responder


@pytest.fixture(scope="module")
def template(stack_and_responder) -> Template:
    return Template.from_stack(stack_and_responder[0])


def _function(template: Template) -> dict:
    [function] = [
        f["Properties"]
        for f in template.find_resources("AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "iot_defender_runtime.quarantine.handler.lambda_handler"
    ]
    return function


def test_function_settings(template):
    function = _function(template)
    assert function["Runtime"] == "python3.14"
    assert function["Architectures"] == ["arm64"]
    assert function["MemorySize"] == 256
    assert function["Timeout"] == 60
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["ReservedConcurrentExecutions"] == 3
    assert "DeadLetterConfig" in function
    layer = str(function["Layers"])
    assert ":017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:" in layer
    assert "{'Ref': 'AWS::Region'}" in layer


def test_function_environment_is_the_runtime_contract(template):
    variables = _function(template)["Environment"]["Variables"]
    assert set(variables) == {
        "QUARANTINE_GROUP_NAME",
        "STATE_TABLE_NAME",
        "NOTIFY_TOPIC_ARN",
        "DRY_RUN",
        "MAX_QUARANTINES_PER_HOUR",
        "REMEDIATION_POLICY",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
    }
    assert variables["DRY_RUN"] == "true"
    assert variables["MAX_QUARANTINES_PER_HOUR"] == "50"
    assert variables["REMEDIATION_POLICY"] == RemediationPolicy.default().to_json()
    assert variables["QUARANTINE_GROUP_NAME"]["Ref"].startswith("QuarantineGroup")


def test_queue_is_subscribed_and_redrives_to_the_dlq(template):
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {
            "Protocol": "sqs",
            "RawMessageDelivery": True,
            "TopicArn": {"Ref": Match.string_like_regexp("Alerts")},
            "RedrivePolicy": Match.any_value(),
            # Audit notifications may share the topic: only violation events reach this queue.
            "FilterPolicyScope": "MessageBody",
            "FilterPolicy": {"violationEventType": [{"exists": True}]},
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "VisibilityTimeout": 360,
            "SqsManagedSseEnabled": True,
            "RedrivePolicy": {"maxReceiveCount": 5, "deadLetterTargetArn": Match.any_value()},
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"BatchSize": 5, "FunctionResponseTypes": ["ReportBatchItemFailures"]}
    )


def test_state_table_has_id_key_pitr_and_is_retained(template):
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": Match.object_like(
                {
                    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "BillingMode": "PAY_PER_REQUEST",
                }
            ),
            "DeletionPolicy": "Retain",
        },
    )


def _function_policy_statements(template: Template) -> list[dict]:
    [policy] = template.find_resources("AWS::IAM::Policy", {"Properties": attached_to("FunctionRole")}).values()
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _actions(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def test_iam_is_least_privilege(template):
    statements = _function_policy_statements(template)
    actions = sorted(action for s in statements for action in _actions(s))
    iot_actions = [a for a in actions if a.startswith("iot:")]
    # The default policy never changes certificates and never releases: no such permission is granted.
    assert iot_actions == [
        "iot:AddThingToThingGroup",
        "iot:DescribeCertificate",
        "iot:DescribeThing",
        "iot:ListThingGroupsForThing",
        "iot:ListThingPrincipals",
    ]
    assert "dynamodb:PutItem" in actions and "dynamodb:GetItem" in actions
    assert not any(a.endswith("*") for a in actions if not a.startswith(("xray:", "sqs:", "logs:")))
    # Every IoT statement is scoped to the things or certificates of this account and region, never "*";
    # the only group things are moved into is the quarantine group.
    iot_statements = [s.get("Sid") for s in statements if any(a.startswith("iot:") for a in _actions(s))]
    assert iot_statements == ["ReadThings", "ReadCertificates", "MoveThingsIntoQuarantine"]
    template.has_resource_properties(
        "AWS::IAM::Policy",
        policy_with(
            "FunctionRole",
            {"Sid": "ReadThings", "Resource": scoped_arn("iot", "thing/*")},
            {"Sid": "ReadCertificates", "Resource": scoped_arn("iot", "cert/*")},
            {
                "Sid": "MoveThingsIntoQuarantine",
                "Action": "iot:AddThingToThingGroup",
                "Resource": [scoped_arn("iot", "thing/*"), arn_of("QuarantineGroup")],
            },
        ),
    )


def test_function_role_uses_no_managed_policy(template):
    [role] = template.find_resources(
        "AWS::IAM::Role", {"Properties": {"Description": Match.string_like_regexp("^Quarantine responder")}}
    ).values()
    assert "ManagedPolicyArns" not in role["Properties"]


def test_alarms_on_dead_letter_queue_and_errors(template):
    template.resource_count_is("AWS::CloudWatch::Alarm", 3)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "BreakerTrips", "Namespace": "DeviceDefender/Quarantine", "Threshold": 1},
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "ApproximateNumberOfMessagesVisible", "Threshold": 1, "EvaluationPeriods": 1},
    )
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "Errors", "Namespace": "AWS/Lambda"})


def test_metric_methods_point_at_the_function_metrics(stack_and_responder):
    _, responder = stack_and_responder
    metric = responder.metric_quarantines()
    assert (metric.namespace, metric.metric_name, metric.statistic) == (
        "DeviceDefender/Quarantine",
        "Quarantines",
        "Sum",
    )
    assert responder.metric_dry_run_decisions().metric_name == "DryRunDecisions"
    assert responder.metric_breaker_trips().metric_name == "BreakerTrips"
    assert responder.metric_rejected_records(period=cdk.Duration.minutes(1)).period.to_minutes() == 1


QUARANTINE_METRICS = [
    ("metric_quarantines", "Quarantines"),
    ("metric_dry_run_decisions", "DryRunDecisions"),
    ("metric_releases", "Releases"),
    ("metric_certificate_deactivations", "CertificateDeactivations"),
    ("metric_breaker_trips", "BreakerTrips"),
    ("metric_held_quarantines", "HeldQuarantines"),
    ("metric_rejected_records", "RejectedRecords"),
]


@pytest.mark.parametrize(("method", "name"), QUARANTINE_METRICS)
def test_metric_methods_take_cloudwatch_metric_options(stack_and_responder, method, name):
    _, responder = stack_and_responder
    assert_metric_method(
        responder,
        method,
        name,
        namespace="DeviceDefender/Quarantine",
        service="quarantine-responder",
        tuned_period=cdk.Duration.minutes(1),
    )
    # period=None (the old signature's default) still means the default period
    assert getattr(responder, method)(period=None).period.to_minutes() == 5


def test_generic_metric_takes_any_name_and_the_same_options(stack_and_responder):
    _, responder = stack_and_responder
    metric = responder.metric("Quarantines", statistic="Average")
    assert (metric.metric_name, metric.statistic, metric.period.to_minutes()) == ("Quarantines", "Average", 5)


def test_metric_methods_cover_what_the_function_publishes(stack_and_responder):
    # The names the quarantine function and the shared batch intake publish with Powertools Metrics.
    published = published_metric_names(REPO / "lambdas/iot_defender_runtime/quarantine/handler.py", BATCH_INTAKE)
    assert published, "no add_metric(name=...) found: update this test to how the function publishes"
    assert published <= {name for _, name in QUARANTINE_METRICS}


def test_shares_a_given_state_table_and_creates_none():
    stack = cdk.Stack(cdk.App(), "S")
    table = dynamodb.Table(
        stack, "Shared", partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)
    )
    responder = QuarantineResponder(stack, "R", quarantine_group=QuarantineGroup(stack, "Q"), state_table=table)
    assert responder.table is table
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like({"STATE_TABLE_NAME": {"Ref": Match.string_like_regexp("^Shared")}})
            }
        },
    )


def test_old_keywords_still_work_for_one_release_with_a_deprecation_warning():
    stack = cdk.Stack(cdk.App(), "S")
    alerts = AlertTopic(stack, "Alerts")
    with pytest.warns(DeprecationWarning) as caught:
        responder = QuarantineResponder(
            stack,
            "R",
            quarantine_group=QuarantineGroup(stack, "Q"),
            existing_alert_topic=alerts,
            max_quarantines_per_hour=7,
        )
    # The warning points at the caller's line, not at this library.
    assert_warned(
        caught,
        [
            "QuarantineResponder: the keyword existing_alert_topic is deprecated and will be removed in the next "
            "release; use alert_topic",
            "QuarantineResponder: the keyword max_quarantines_per_hour is deprecated and will be removed in the "
            "next release; use max_actions_per_hour",
        ],
        at=__file__,
    )
    assert responder.alert_topic is alerts and responder.max_actions_per_hour == 7
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"MAX_QUARANTINES_PER_HOUR": "7"})}},
    )


def test_an_old_keyword_out_of_range_is_named_as_given():
    stack = cdk.Stack(cdk.App(), "S")
    group = QuarantineGroup(stack, "Q")
    with pytest.raises(ConstructValidationError) as raised, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        QuarantineResponder(stack, "R", quarantine_group=group, max_quarantines_per_hour=0)
    assert str(raised.value) == "S/R: max_quarantines_per_hour 0 must be an integer from 1 to 10000"


def test_fails_when_a_keyword_is_given_under_both_names():
    stack = cdk.Stack(cdk.App(), "S")
    alerts = AlertTopic(stack, "Alerts")
    with pytest.raises(ConstructValidationError) as raised:
        QuarantineResponder(
            stack,
            "R",
            quarantine_group=QuarantineGroup(stack, "Q"),
            alert_topic=alerts,
            existing_alert_topic=alerts,
            max_actions_per_hour=5,
            max_quarantines_per_hour=5,
        )
    assert str(raised.value) == (
        "S/R: alert_topic and existing_alert_topic were both given; existing_alert_topic is the deprecated name "
        "of alert_topic; max_actions_per_hour and max_quarantines_per_hour were both given; "
        "max_quarantines_per_hour is the deprecated name of max_actions_per_hour"
    )


def test_creates_alert_and_notification_topics_when_not_given():
    stack = cdk.Stack(cdk.App(), "S")
    QuarantineResponder(stack, "R", quarantine_group=QuarantineGroup(stack, "Q"))
    Template.from_stack(stack).resource_count_is("AWS::SNS::Topic", 2)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 11}, "S/R: batch_size 11 must be an integer from 1 to 10"),
        ({"batch_size": 0}, "S/R: batch_size 0 must be an integer from 1 to 10"),
        ({"reserved_concurrency": 0}, "S/R: reserved_concurrency 0 must be an integer from 1 to 20"),
        ({"dry_run": "yes"}, "S/R: dry_run 'yes' must be True or False"),
        (
            {"max_actions_per_hour": 0},
            "S/R: max_actions_per_hour 0 must be an integer from 1 to 10000",
        ),
        (
            {"remediation_policy": RemediationPolicy([RemediationRule("bad", actions=["explode"])])},
            "S/R: remediation_policy rules[0] ('bad').actions[0] 'explode' is not one of notify, quarantine, "
            "deactivate-certificates, release",
        ),
        (
            {
                "remediation_policy": RemediationPolicy(
                    [RemediationRule(f"rule-{i:03d}-{'x' * 40}", actions=["notify"]) for i in range(60)]
                )
            },
            "S/R: remediation_policy is 5603 characters as JSON; at most 3000 fit in the function's environment",
        ),
    ],
)
def test_fails_when_an_argument_is_out_of_range(arguments, message):
    stack = cdk.Stack(cdk.App(), "S")
    group = QuarantineGroup(stack, "Q")
    with pytest.raises(ConstructValidationError) as raised:
        QuarantineResponder(stack, "R", quarantine_group=group, **arguments)
    assert str(raised.value) == message


def test_iam_grows_only_with_the_actions_the_policy_takes():
    # Given a policy that deactivates certificates and releases on clear
    stack = cdk.Stack(cdk.App(), "S")
    policy = RemediationPolicy(
        [
            RemediationRule(
                "contain",
                actions=[RemediationAction.QUARANTINE, RemediationAction.DEACTIVATE_CERTIFICATES, "notify"],
                event_types=["in-alarm"],
                min_confidence="HIGH",
            ),
            RemediationRule("release", actions=["release", "notify"], event_types=["alarm-cleared"]),
        ],
        exempt_groups=["lab"],
    )
    QuarantineResponder(stack, "R", quarantine_group=QuarantineGroup(stack, "Q"), remediation_policy=policy)
    # When synthesized, Then certificate updates and group removal are granted, with the policy in the environment
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        policy_with(
            "FunctionRole",
            {
                "Sid": "ChangeCertificateStatus",
                "Action": "iot:UpdateCertificate",
                "Resource": scoped_arn("iot", "cert/*"),
            },
            {
                "Sid": "ReleaseFromQuarantine",
                "Action": "iot:RemoveThingFromThingGroup",
                "Resource": [scoped_arn("iot", "thing/*"), arn_of("Q")],
            },
            {
                "Sid": "RestoreGroupsBefore",
                "Action": "iot:AddThingToThingGroup",
                "Resource": [scoped_arn("iot", "thing/*"), scoped_arn("iot", "thinggroup/*")],
            },
        ),
    )
    [function] = template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Environment": {"Variables": Match.object_like({"REMEDIATION_POLICY": Match.any_value()})}}},
    ).values()
    assert (
        RemediationPolicy.from_json(function["Properties"]["Environment"]["Variables"]["REMEDIATION_POLICY"]) == policy
    )


def test_alarms_notify_the_operators_topic_which_lets_cloudwatch_of_this_account_publish(template):
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    assert all(len(a["Properties"]["AlarmActions"]) == 1 for a in alarms.values())
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "AllowCloudWatchAlarmsOfThisAccount",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                            }
                        )
                    ]
                )
            }
        },
    )
    template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "AllowCloudWatchAlarmsToPublishEncrypted",
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            }
                        )
                    ]
                )
            }
        },
    )
