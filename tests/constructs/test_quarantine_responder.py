"""QuarantineResponder: wiring, function settings, least-privilege IAM, alarms and validation."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
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


@pytest.fixture(scope="module")
def stack_and_responder() -> tuple[cdk.Stack, QuarantineResponder]:
    stack = cdk.Stack(cdk.App(), "Response")
    responder = QuarantineResponder(
        stack,
        "Responder",
        quarantine_group=QuarantineGroup(stack, "Quarantine", thing_group_name="quarantine"),
        existing_alert_topic=AlertTopic(stack, "Alerts"),
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
        if f["Properties"].get("Handler") == "lambdas.quarantine.handler.lambda_handler"
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


def test_iam_is_least_privilege(template):
    [policy] = [
        p
        for p in template.find_resources("AWS::IAM::Policy").values()
        if "FunctionRole" in str(p["Properties"]["Roles"])
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = sorted(
        action for s in statements for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
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
    move = next(s for s in statements if s.get("Sid") == "MoveThingsIntoQuarantine")
    assert move["Resource"][1]["Fn::GetAtt"][0].startswith("QuarantineGroup")
    for statement in statements:
        if str(statement["Action"]).startswith(("iot:", "['iot:")):
            assert statement["Resource"] != "*"
            assert ":thing/*" in str(statement["Resource"]) or ":cert/*" in str(statement["Resource"])


def test_function_role_uses_no_managed_policy(template):
    [role] = [r for r in template.find_resources("AWS::IAM::Role").values() if "Quarantine responder" in str(r)]
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
            {"max_quarantines_per_hour": 0},
            "S/R: max_quarantines_per_hour 0 must be an integer from 1 to 10000",
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
    [policy_document] = [
        p["Properties"]["PolicyDocument"]
        for p in template.find_resources("AWS::IAM::Policy").values()
        if "FunctionRole" in str(p["Properties"]["Roles"])
    ]
    by_sid = {s.get("Sid"): s for s in policy_document["Statement"]}
    assert by_sid["ChangeCertificateStatus"]["Action"] == "iot:UpdateCertificate"
    assert by_sid["ReleaseFromQuarantine"]["Action"] == "iot:RemoveThingFromThingGroup"
    assert ":thinggroup/*" in str(by_sid["RestoreGroupsBefore"]["Resource"])
    [function] = [
        f for f in template.find_resources("AWS::Lambda::Function").values() if "REMEDIATION_POLICY" in str(f)
    ]
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
