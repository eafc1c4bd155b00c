"""Any sns.ITopic where a topic is taken: what the library grants on it, and what it says it cannot."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match, Template

from constructs_lib import (
    AccountAudit,
    AlertTopic,
    ConstructValidationError,
    DeviceDefender,
    ImportedAlertTopic,
    MitigationAction,
    QuarantineGroup,
    QuarantineResponder,
    SecurityProfile,
    SecurityProfileTarget,
    SelfHostedDetect,
    StarterBehaviors,
)
from constructs_lib.alerts.alert_topic import IMPORTED_TOPIC_ALARMS_WARNING

OPS_ARN = "arn:aws:sns:eu-west-1:111111111111:ops"
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ALARMS_WARNING = (
    "notification_topic is an imported topic, whose policies this library cannot change: its topic policy "
    "(and its KMS key policy, if encrypted) must allow cloudwatch.amazonaws.com to publish "
    "(sns:Publish; kms:GenerateDataKey*, kms:Decrypt), or the alarms' notifications are lost "
    f"[ack: {IMPORTED_TOPIC_ALARMS_WARNING}]"
)


def publish_statement(resource: object) -> dict[str, object]:
    return Match.object_like({"Action": "sns:Publish", "Effect": "Allow", "Resource": resource})


def policies_with(*statements: object) -> dict[str, object]:
    return {"PolicyDocument": {"Statement": Match.array_with(list(statements))}}


@pytest.fixture(scope="module")
def imported_notifications() -> cdk.Stack:
    """DeviceDefender notifying a topic made elsewhere, as the issue reported it (it used to fail)."""
    stack = cdk.Stack(cdk.App(), "Imported")
    DeviceDefender(
        stack,
        "Defender",
        fleet_groups=["sensors"],
        notification_topic=sns.Topic.from_topic_arn(stack, "Ops", OPS_ARN),
    )
    return stack


def test_device_defender_takes_an_imported_notification_topic(imported_notifications):
    # Given DeviceDefender(notification_topic=sns.Topic.from_topic_arn(...))
    template = Template.from_stack(imported_notifications)
    # Then both response functions may publish to it and their alarms notify it
    template.has_resource_properties("AWS::IAM::Policy", policies_with(publish_statement(OPS_ARN)))
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"AlarmActions": [OPS_ARN]})
    # And no topic is created for notifications (only the alert topic)
    template.resource_count_is("AWS::SNS::Topic", 1)


def test_warns_that_alarms_need_the_imported_topics_own_policies(imported_notifications):
    # Given an imported notification topic, whose policies the library cannot change
    annotations = Annotations.from_stack(imported_notifications)
    # Then the responder says what its policies must allow
    annotations.has_warning("/Imported/Defender/Responder", ALARMS_WARNING)


def test_from_topic_arn_with_its_key_grants_the_key_to_publishers():
    # Given an imported topic encrypted with a known key
    stack = cdk.Stack(cdk.App(), "Keyed")
    key = kms.Key.from_key_arn(stack, "OpsKey", KEY_ARN)
    topic = AlertTopic.from_topic_arn(stack, "Ops", OPS_ARN, encryption_key=key)
    # When a responder notifies it
    QuarantineResponder(
        stack, "Responder", quarantine_group=QuarantineGroup(stack, "Quarantine"), notification_topic=topic
    )
    # Then its function may publish and use the key
    Template.from_stack(stack).has_resource_properties(
        "AWS::IAM::Policy",
        policies_with(
            publish_statement(OPS_ARN),
            Match.object_like({"Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": KEY_ARN}),
        ),
    )
    assert isinstance(topic, ImportedAlertTopic)
    assert topic.encryption_key is not None


def test_responder_subscribes_to_an_imported_alert_topic():
    stack = cdk.Stack(cdk.App(), "Subscribed")
    QuarantineResponder(
        stack,
        "Responder",
        quarantine_group=QuarantineGroup(stack, "Quarantine"),
        alert_topic=sns.Topic.from_topic_arn(stack, "Alerts", OPS_ARN),
    )
    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "sqs", "TopicArn": OPS_ARN, "RawMessageDelivery": True}
    )


def test_an_owned_sns_topic_gets_the_cloudwatch_statement_and_no_warning():
    # Given a plain sns.Topic of this app as the notification topic
    stack = cdk.Stack(cdk.App(), "Owned")
    topic = sns.Topic(stack, "Ops")
    QuarantineResponder(
        stack, "Responder", quarantine_group=QuarantineGroup(stack, "Quarantine"), notification_topic=topic
    )
    # Then its policy lets CloudWatch alarms of this account publish
    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "AllowCloudWatchAlarmsOfThisAccount",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            }
                        )
                    ]
                )
            }
        },
    )
    Annotations.from_stack(stack).has_no_warning("*", Match.any_value())


def test_security_profile_account_audit_and_mitigation_alert_to_an_imported_topic():
    stack = cdk.Stack(cdk.App(), "Targets")
    topic = sns.Topic.from_topic_arn(stack, "Alerts", OPS_ARN)
    SecurityProfile(
        stack,
        "Profile",
        behaviors=[StarterBehaviors.message_storm()],
        targets=[SecurityProfileTarget.all_registered_things()],
        alert_topic=topic,
    )
    AccountAudit(stack, "Audit", alert_topic=topic)
    MitigationAction.publish_finding_to_sns(stack, "Publish", topic=topic)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IoT::SecurityProfile", {"AlertTargets": {"SNS": Match.object_like({"AlertTargetArn": OPS_ARN})}}
    )
    template.has_resource_properties(
        "AWS::IoT::AccountAuditConfiguration",
        {"AuditNotificationTargetConfigurations": {"Sns": Match.object_like({"TargetArn": OPS_ARN})}},
    )
    template.has_resource_properties(
        "AWS::IoT::MitigationAction", {"ActionParams": {"PublishFindingToSnsParams": {"TopicArn": OPS_ARN}}}
    )
    publishers = template.find_resources("AWS::IAM::Policy", {"Properties": policies_with(publish_statement(OPS_ARN))})
    assert len(publishers) == 3  # the alert role, the notification role, the mitigation action's role


def test_self_hosted_detect_publishes_to_an_imported_topic():
    stack = cdk.Stack(cdk.App(), "SelfHosted")
    SelfHostedDetect(
        stack,
        "Detect",
        alert_topic=sns.Topic.from_topic_arn(stack, "Alerts", OPS_ARN),
        behaviors=[StarterBehaviors.message_storm()],
    )
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::IAM::Policy", policies_with(publish_statement(OPS_ARN)))
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Environment": {"Variables": Match.object_like({"ALERT_TOPIC_ARN": OPS_ARN})}}
    )


def test_fails_when_notification_topic_is_not_a_topic():
    stack = cdk.Stack(cdk.App(), "Stack")
    with pytest.raises(ConstructValidationError) as raised:
        DeviceDefender(stack, "Defender", fleet_groups=["sensors"], notification_topic=OPS_ARN)  # type: ignore[arg-type]
    assert str(raised.value) == (
        f"Stack/Defender: notification_topic '{OPS_ARN}' must be an AlertTopic or an sns.ITopic "
        "(e.g. AlertTopic.from_topic_arn(scope, id, arn) or sns.Topic.from_topic_arn(...))"
    )


def test_fails_when_a_responders_alert_topic_is_not_a_topic():
    stack = cdk.Stack(cdk.App(), "Stack")
    with pytest.raises(ConstructValidationError) as raised:
        QuarantineResponder(
            stack,
            "Responder",
            quarantine_group=QuarantineGroup(stack, "Quarantine"),
            alert_topic="alerts",  # type: ignore[arg-type]
        )
    assert str(raised.value) == (
        "Stack/Responder: alert_topic 'alerts' must be an AlertTopic or an sns.ITopic "
        "(e.g. AlertTopic.from_topic_arn(scope, id, arn) or sns.Topic.from_topic_arn(...))"
    )
