"""AuditRemediator: the argument grammar it shares with QuarantineResponder, its metric methods,
least-privilege IAM that follows its policy, and the keywords deprecated by the alignment."""

from __future__ import annotations

import inspect
import warnings

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from constructs_lib import (
    AlertTopic,
    AuditRemediationPolicy,
    AuditRemediator,
    ConstructValidationError,
    QuarantineGroup,
    QuarantineResponder,
    policy_of,
)
from tests.constructs.matchers import arn_of, attached_to, policy_with, scoped_arn
from tests.constructs.response_cases import (
    BATCH_INTAKE,
    REPO,
    assert_metric_method,
    assert_warned,
    published_metric_names,
)

REMEDIATOR_METRICS = [
    ("metric_findings_remediated", "FindingsRemediated"),
    ("metric_dry_run_decisions", "DryRunDecisions"),
    ("metric_held_actions", "HeldActions"),
    ("metric_breaker_trips", "BreakerTrips"),
    ("metric_rejected_records", "RejectedRecords"),
]


@pytest.fixture(scope="module")
def stack_and_remediator() -> tuple[cdk.Stack, AuditRemediator]:
    stack = cdk.Stack(cdk.App(), "Audit")
    remediator = AuditRemediator(
        stack,
        "Remediator",
        quarantine_group=QuarantineGroup(stack, "Quarantine", thing_group_name="quarantine"),
        alert_topic=AlertTopic(stack, "Alerts"),
        notification_topic=AlertTopic(stack, "Operators"),
    )
    return stack, remediator


@pytest.fixture(scope="module")
def template(stack_and_remediator) -> Template:
    return Template.from_stack(stack_and_remediator[0])


def _keywords(construct: type) -> list[str]:
    parameters = inspect.signature(construct.__init__).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def test_both_response_constructs_take_the_same_keywords_in_the_same_order():
    shared = [
        "quarantine_group",
        "alert_topic",
        "notification_topic",
        "state_table",
        "remediation_policy",
        "dry_run",
        "max_actions_per_hour",
        "batch_size",
        "reserved_concurrency",
        "powertools_layer_version",
        "vpc",
        "vpc_subnets",
    ]
    # After them, each keeps its deprecated names for one release.
    assert _keywords(QuarantineResponder) == [*shared, "existing_alert_topic", "max_quarantines_per_hour"]
    assert _keywords(AuditRemediator) == [*shared, "audit_topic", "policy"]


def test_both_response_constructs_expose_the_same_attributes(stack_and_remediator):
    stack = cdk.Stack(cdk.App(), "S")
    responder = QuarantineResponder(stack, "R", quarantine_group=QuarantineGroup(stack, "Q"))
    _, remediator = stack_and_remediator
    for construct in (responder, remediator):
        for attribute in (
            "alert_topic",
            "notification_topic",
            "quarantine_group",
            "table",
            "remediation_policy",
            "dry_run",
            "max_actions_per_hour",
            "queue",
            "dead_letter_queue",
            "function",
            "role",
            "dead_letter_queue_alarm",
            "errors_alarm",
            "breaker_alarm",
        ):
            assert getattr(construct, attribute) is not None, (type(construct).__name__, attribute)
        assert callable(construct.metric) and callable(construct.metric_breaker_trips)


def test_defaults(stack_and_remediator):
    _, remediator = stack_and_remediator
    assert remediator.remediation_policy == AuditRemediationPolicy.default()
    assert (remediator.dry_run, remediator.max_actions_per_hour) == (False, 50)


def test_creates_alert_and_notification_topics_and_a_table_when_not_given():
    stack = cdk.Stack(cdk.App(), "S")
    remediator = AuditRemediator(stack, "R", quarantine_group=QuarantineGroup(stack, "Q"))
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Topic", 2)
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"TopicArn": {"Ref": Match.string_like_regexp("^RAlertTopic")}, "FilterPolicyScope": "MessageBody"},
    )
    assert remediator.alert_topic is not remediator.notification_topic


def test_iam_follows_the_default_policy(template):
    template.has_resource_properties(
        "AWS::IAM::Policy",
        policy_with(
            "RemediatorFunctionRole",
            {"Sid": "ReadAuditFindings", "Action": "iot:ListAuditFindings", "Resource": "*"},
            {"Sid": "ReadPolicyAtFault", "Action": "iot:GetPolicyVersion", "Resource": scoped_arn("iot", "policy/*")},
            {"Sid": "ReadCertificates", "Action": "iot:DescribeCertificate", "Resource": scoped_arn("iot", "cert/*")},
            {
                "Sid": "DeactivateCertificates",
                "Action": "iot:UpdateCertificate",
                "Resource": scoped_arn("iot", "cert/*"),
            },
            {"Sid": "FindThingsOfCertificate", "Action": "iot:ListPrincipalThings", "Resource": "*"},
            {"Sid": "ReadThings", "Resource": scoped_arn("iot", "thing/*")},
            {
                "Sid": "MoveThingsIntoQuarantine",
                "Action": "iot:AddThingToThingGroup",
                "Resource": [scoped_arn("iot", "thing/*"), arn_of("Quarantine")],
            },
        ),
    )


def test_iam_grants_no_change_the_policy_does_not_make():
    stack = cdk.Stack(cdk.App(), "S")
    AuditRemediator(
        stack,
        "R",
        quarantine_group=QuarantineGroup(stack, "Q"),
        remediation_policy=policy_of({"DEVICE_CERTIFICATE_EXPIRING_CHECK": ["notify"]}),
    )
    [policy] = (
        Template.from_stack(stack)
        .find_resources("AWS::IAM::Policy", {"Properties": attached_to("RFunctionRole")})
        .values()
    )
    sids = {statement.get("Sid") for statement in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert {"ReadAuditFindings", "ReadPolicyAtFault", "ReadCertificates"} <= sids
    assert not sids & {"DeactivateCertificates", "FindThingsOfCertificate", "ReadThings", "MoveThingsIntoQuarantine"}


def test_alarms_notify_the_operators(template):
    template.resource_count_is("AWS::CloudWatch::Alarm", 3)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "BreakerTrips",
            "Namespace": "DeviceDefender/AuditRemediation",
            "Dimensions": [{"Name": "service", "Value": "audit-remediator"}],
            "Statistic": "Sum",
            "Period": 300,
            "AlarmActions": [{"Ref": Match.string_like_regexp("^Operators")}],
        },
    )


@pytest.mark.parametrize(("method", "name"), REMEDIATOR_METRICS)
def test_metric_methods_take_cloudwatch_metric_options(stack_and_remediator, method, name):
    _, remediator = stack_and_remediator
    assert_metric_method(
        remediator,
        method,
        name,
        namespace="DeviceDefender/AuditRemediation",
        service="audit-remediator",
        tuned_period=cdk.Duration.hours(1),
    )


def test_generic_metric_keeps_working_with_the_same_options(stack_and_remediator):
    _, remediator = stack_and_remediator
    metric = remediator.metric("HeldActions", period=cdk.Duration.minutes(1))
    assert (metric.metric_name, metric.statistic, metric.period.to_minutes()) == ("HeldActions", "Sum", 1)
    assert remediator.metric("BreakerTrips").period.to_minutes() == 5


def test_metric_methods_name_exactly_what_the_function_publishes():
    published = published_metric_names(
        *sorted((REPO / "lambdas/iot_defender_runtime/audit_remediation").glob("*.py")), BATCH_INTAKE
    )
    assert published == {name for _, name in REMEDIATOR_METRICS}


def test_old_keywords_still_work_for_one_release_with_a_deprecation_warning():
    stack = cdk.Stack(cdk.App(), "S")
    alerts = AlertTopic(stack, "Alerts")
    policy = policy_of({"DEVICE_CERTIFICATE_SHARED_CHECK": ["quarantine-things", "notify"]})
    with pytest.warns(DeprecationWarning) as caught:
        remediator = AuditRemediator(
            stack, "R", quarantine_group=QuarantineGroup(stack, "Q"), audit_topic=alerts, policy=policy
        )
    assert_warned(
        caught,
        [
            "AuditRemediator: the keyword audit_topic is deprecated and will be removed in the next release; "
            "use alert_topic",
            "AuditRemediator: the keyword policy is deprecated and will be removed in the next release; "
            "use remediation_policy",
        ],
        at=__file__,
    )
    assert remediator.alert_topic is alerts and remediator.remediation_policy == policy
    with pytest.warns(DeprecationWarning, match="AuditRemediator.policy is deprecated"):
        assert remediator.policy == policy


# A policy with problems is named as given: under its name, or under its deprecated name.
@pytest.mark.parametrize(
    ("topic_keyword", "policy_keyword"), [("alert_topic", "remediation_policy"), ("audit_topic", "policy")]
)
def test_fails_when_the_policy_is_invalid_naming_it_as_given(topic_keyword, policy_keyword):
    stack = cdk.Stack(cdk.App(), "S")
    given = {
        topic_keyword: AlertTopic(stack, "T"),
        policy_keyword: policy_of({"LOGGING_DISABLED_CHECK": ["quarantine-things"]}),
    }
    with pytest.raises(ConstructValidationError) as raised, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        AuditRemediator(
            stack,
            "R",
            quarantine_group=QuarantineGroup(stack, "Q"),
            notification_topic=AlertTopic(stack, "N"),
            max_actions_per_hour=0,
            **given,
        )
    assert str(raised.value) == (
        f"S/R: max_actions_per_hour 0 must be an integer from 1 to 10000; {policy_keyword} "
        "checks.LOGGING_DISABLED_CHECK[0] 'quarantine-things' needs a check whose findings name a device certificate"
    )


def test_fails_when_a_keyword_is_given_under_both_names():
    stack = cdk.Stack(cdk.App(), "S")
    alerts = AlertTopic(stack, "Alerts")
    with pytest.raises(ConstructValidationError) as raised:
        AuditRemediator(
            stack,
            "R",
            quarantine_group=QuarantineGroup(stack, "Q"),
            alert_topic=alerts,
            audit_topic=alerts,
            remediation_policy=AuditRemediationPolicy.default(),
            policy=AuditRemediationPolicy.default(),
        )
    assert str(raised.value) == (
        "S/R: alert_topic and audit_topic were both given; audit_topic is the deprecated name of alert_topic; "
        "remediation_policy and policy were both given; policy is the deprecated name of remediation_policy"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 11}, "S/R: batch_size 11 must be an integer from 1 to 10"),
        ({"reserved_concurrency": 0}, "S/R: reserved_concurrency 0 must be an integer from 1 to 20"),
        ({"dry_run": "yes"}, "S/R: dry_run 'yes' must be True or False"),
        ({"max_actions_per_hour": 10_001}, "S/R: max_actions_per_hour 10001 must be an integer from 1 to 10000"),
    ],
)
def test_sizing_messages_are_those_of_the_quarantine_responder(arguments, message):
    for construct in (AuditRemediator, QuarantineResponder):
        stack = cdk.Stack(cdk.App(), "S")
        with pytest.raises(ConstructValidationError) as raised:
            construct(stack, "R", quarantine_group=QuarantineGroup(stack, "Q"), **arguments)
        assert str(raised.value) == message
