"""The central security view and the member forwarding: cross-account policies statement by statement,
cdk-nag (AwsSolutions, Serverless) and cfn-lint on the four stacks, and the synth-time errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructs_lib import AlertTopic, ConstructValidationError, apply_nag_packs
from constructs_lib.org.central_security_view import CentralDelivery, CentralSecurityView
from constructs_lib.org.security_view_forwarding import SecurityViewForwarding
from constructs_lib.synth_report import cfn_lint_findings
from tests.synth.templates import of_type

MEMBER, CENTRAL, REGION = "111111111111", "999999999999", "eu-west-1"
VIEW = "iot-defender-security-view"
PARTITION_JOIN = {"Ref": "AWS::Partition"}


def _env(account: str) -> cdk.Environment:
    return cdk.Environment(account=account, region=REGION)


@pytest.fixture(scope="module")
def assembly(tmp_path_factory):
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("security-view")))
    member = cdk.Stack(app, "MemberBus", env=_env(MEMBER))
    alerts, notes = AlertTopic(member, "Alerts"), AlertTopic(member, "Notes")
    SecurityViewForwarding(member, "Forward", topics=[alerts, notes], central_account=CENTRAL)
    member_queue = cdk.Stack(app, "MemberQueue", env=_env(MEMBER))
    SecurityViewForwarding(
        member_queue,
        "Forward",
        topics=[AlertTopic(member_queue, "Alerts")],
        central_account=CENTRAL,
        delivery=CentralDelivery.QUEUE,
    )
    central = cdk.Stack(app, "CentralBus", env=_env(CENTRAL))
    CentralSecurityView(central, "View", member_accounts=[MEMBER])
    central_queue = cdk.Stack(app, "CentralQueue", env=_env(CENTRAL))
    CentralSecurityView(
        central_queue,
        "View",
        member_accounts=[MEMBER],
        member_regions=[REGION],
        delivery=CentralDelivery.QUEUE,
        member_topic_arns=[f"arn:aws:sns:us-east-1:{MEMBER}:alerts"],
    )
    org = cdk.Stack(app, "CentralOrg", env=_env(CENTRAL))
    CentralSecurityView(org, "View", organization_id="o-abcdefghij", delivery=CentralDelivery.QUEUE)
    apply_nag_packs(app)
    return app.synth()  # raises on any unacknowledged cdk-nag finding


def _template(assembly, name: str) -> dict[str, Any]:
    return assembly.get_stack_by_name(name).template


def _joined(text: str) -> dict[str, Any]:
    """``arn:${Partition}<text>`` as CloudFormation renders an ARN built from ``Aws.PARTITION``."""
    return {"Fn::Join": ["", ["arn:", PARTITION_JOIN, text]]}


def _statements(template: dict[str, Any], resource_type: str, key: str = "PolicyDocument") -> list[dict[str, Any]]:
    return [s for r in of_type(template, resource_type).values() for s in r["Properties"][key]["Statement"]]


@pytest.mark.parametrize("stack", ["MemberBus", "MemberQueue", "CentralBus", "CentralQueue", "CentralOrg"])
def test_stacks_are_cfn_lint_clean(assembly, stack):
    assert cfn_lint_findings(Path(assembly.directory) / f"{stack}.template.json") == []


def test_queue_delivery_gives_the_alert_topic_exactly_the_central_subscription(assembly):
    # Given a member topic forwarded to the central queue
    [policy] = of_type(_template(assembly, "MemberQueue"), "AWS::SNS::TopicPolicy").values()
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    endpoint = _joined(f":sqs:{REGION}:{CENTRAL}:{VIEW}")
    # Then the central account may subscribe that queue, over SQS, and nothing else
    assert statements["AllowSubscriptionOfQueue1"] == {
        "Sid": "AllowSubscriptionOfQueue1",
        "Effect": "Allow",
        "Principal": {"AWS": _joined(f":iam::{CENTRAL}:root")},
        "Action": "sns:Subscribe",
        "Resource": {"Ref": statements["AllowSubscriptionOfQueue1"]["Resource"]["Ref"]},
        "Condition": {"StringEquals": {"sns:Protocol": "sqs", "sns:Endpoint": endpoint}},
    }
    # And the owner-only deny still covers every other account and action, but that one endpoint
    deny = statements["DenyOtherAccounts"]
    assert deny["Effect"] == "Deny" and "sns:Publish" in deny["Action"] and "sns:Subscribe" in deny["Action"]
    assert deny["Condition"] == {
        "StringNotEquals": {"aws:PrincipalAccount": MEMBER, "sns:Endpoint": [endpoint]},
        "Bool": {"aws:PrincipalIsAWSService": "false"},
    }
    assert set(statements) == {"AllowPublishThroughSSLOnly", "DenyOtherAccounts", "AllowSubscriptionOfQueue1"}


def test_alert_topic_without_forwarding_keeps_its_owner_only_policy(assembly):
    [policy, _] = of_type(_template(assembly, "MemberBus"), "AWS::SNS::TopicPolicy").values()
    deny = next(s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Sid"] == "DenyOtherAccounts")
    assert deny["Condition"]["StringNotEquals"] == {"aws:PrincipalAccount": MEMBER}


def test_central_bus_takes_put_events_from_the_member_accounts_only(assembly):
    template = _template(assembly, "CentralBus")
    [bus_policy] = of_type(template, "AWS::Events::EventBusPolicy").values()
    statement = bus_policy["Properties"]["Statement"]
    assert statement["Principal"] == {"AWS": _joined(f":iam::{MEMBER}:root")}
    assert statement["Action"] == "events:PutEvents" and statement["Effect"] == "Allow"
    assert statement["Condition"] == {"StringEquals": {"events:source": "iot-device-defender-constructs"}}
    [bus] = of_type(template, "AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == VIEW
    [archive] = of_type(template, "AWS::Events::Archive").values()
    assert archive["Properties"]["RetentionDays"] == 365


def test_central_bus_delivers_to_an_encrypted_queue_with_a_dead_letter_queue(assembly):
    template = _template(assembly, "CentralBus")
    [rule] = of_type(template, "AWS::Events::Rule").values()
    [target] = rule["Properties"]["Targets"]
    assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 185
    key_statements = {s.get("Sid"): s for s in _statements(template, "AWS::KMS::Key", "KeyPolicy")}
    events = key_statements["EventBridgeDeliversToTheQueue"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert events["Condition"] == {
        "ArnEquals": {"aws:SourceArn": _joined(f":events:{REGION}:{CENTRAL}:rule/{VIEW}/{VIEW}-to-queue")}
    }


def test_central_queue_takes_messages_of_the_member_topics_only(assembly):
    template = _template(assembly, "CentralQueue")
    sources = {"ArnLike": {"aws:SourceArn": [_joined(f":sns:{REGION}:{MEMBER}:*")]}}
    sends = [s for s in _statements(template, "AWS::SQS::QueuePolicy") if s.get("Sid") == "MemberTopicsSendMessages"]
    assert len(sends) == 2  # the queue and its dead-letter queue (the subscriptions' redrive)
    for statement in sends:
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage" and statement["Condition"] == sources
    key = {s.get("Sid"): s for s in _statements(template, "AWS::KMS::Key", "KeyPolicy")}
    assert key["MemberTopicsEncryptMessages"]["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert key["MemberTopicsEncryptMessages"]["Condition"] == sources
    [subscription] = of_type(template, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["TopicArn"] == f"arn:aws:sns:us-east-1:{MEMBER}:alerts"
    assert subscription["Properties"]["Region"] == "us-east-1"
    assert subscription["Properties"]["RawMessageDelivery"] is True
    assert "deadLetterTargetArn" in subscription["Properties"]["RedrivePolicy"]


def test_central_queue_of_an_organization_takes_its_accounts_topics_only(assembly):
    template = _template(assembly, "CentralOrg")
    sends = [s for s in _statements(template, "AWS::SQS::QueuePolicy") if s.get("Sid") == "MemberTopicsSendMessages"]
    assert {str(s["Condition"]) for s in sends} == {str({"StringEquals": {"aws:SourceOrgID": "o-abcdefghij"}})}


def test_member_bus_forwarding_role_may_only_put_events_on_the_central_bus(assembly):
    template = _template(assembly, "MemberBus")
    central_bus = _joined(f":events:{REGION}:{CENTRAL}:event-bus/{VIEW}")
    put_events = [s for s in _statements(template, "AWS::IAM::Policy") if s["Action"] == "events:PutEvents"]
    assert {str(s["Resource"]) for s in put_events} == {
        str(central_bus),
        str({"Fn::GetAtt": [_local_bus(template), "Arn"]}),
    }
    [pipe] = of_type(template, "AWS::Pipes::Pipe").values()
    parameters = pipe["Properties"]["TargetParameters"]
    assert parameters["InputTemplate"] == "<$.body>"
    assert parameters["EventBridgeEventBusParameters"] == {
        "Source": "iot-device-defender-constructs",
        "DetailType": "IoT Device Defender notification",
    }
    assert len(of_type(template, "AWS::SNS::Subscription")) == 2


def _local_bus(template: dict[str, Any]) -> str:
    [logical_id] = of_type(template, "AWS::Events::EventBus")
    return logical_id


# Bad input: each message names the argument, the value and what is allowed.


def _central(**arguments: Any) -> None:
    CentralSecurityView(cdk.Stack(cdk.App(), "S"), "View", **arguments)


def test_fails_when_central_account_is_not_twelve_digits():
    with pytest.raises(ConstructValidationError) as raised:
        SecurityViewForwarding(cdk.Stack(cdk.App(), "S"), "F", topics=[], central_account="12345")
    assert str(raised.value) == (
        "S/F: central_account '12345' must be an AWS account id: 12 digits, as a string; "
        "topics is empty; give the alert topic and the notification topic to forward"
    )


def test_fails_when_organization_id_does_not_match():
    with pytest.raises(ConstructValidationError) as raised:
        _central(organization_id="o-ABC")
    assert str(raised.value) == (
        "S/View: organization_id 'o-ABC' must be an AWS Organizations id: "
        "'o-' then 10 to 32 lowercase letters or digits"
    )


def test_fails_when_region_does_not_exist():
    with pytest.raises(ConstructValidationError) as raised:
        _central(member_accounts=[MEMBER], member_regions=["eu-middle-9"])
    assert str(raised.value).startswith(
        "S/View: member_regions[0] 'eu-middle-9' is not an AWS Region; use one of af-south-1, "
    )


def test_fails_when_no_account_may_deliver():
    with pytest.raises(ConstructValidationError) as raised:
        _central()
    assert "member_accounts and organization_id are both empty" in str(raised.value)


def test_fails_when_queue_delivery_gets_an_imported_topic():
    stack = cdk.Stack(cdk.App(), "S", env=_env(MEMBER))
    imported = AlertTopic.from_topic_arn(stack, "T", f"arn:aws:sns:{REGION}:{MEMBER}:t")
    with pytest.raises(ConstructValidationError) as raised:
        SecurityViewForwarding(stack, "F", topics=[imported], central_account=CENTRAL, delivery=CentralDelivery.QUEUE)
    assert "topics[0] " in str(raised.value) and "must be an AlertTopic of this app" in str(raised.value)


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=20).filter(lambda text: not re.fullmatch(r"[0-9]{12}", text) and "${Token[" not in text))
def test_any_account_id_but_twelve_digits_fails_naming_the_argument(value):
    with pytest.raises(ConstructValidationError) as raised:
        _central(member_accounts=[value])
    assert f"member_accounts[0] {value!r} must be an AWS account id" in str(raised.value)


@settings(max_examples=40, deadline=None)
@given(
    st.text(max_size=40).filter(lambda text: not re.fullmatch(r"o-[a-z0-9]{10,32}", text) and "${Token[" not in text)
)
def test_any_malformed_organization_id_fails_naming_the_argument(value):
    with pytest.raises(ConstructValidationError) as raised:
        _central(organization_id=value)
    assert f"organization_id {value!r} must be an AWS Organizations id" in str(raised.value)


@settings(max_examples=30, deadline=None)
@given(st.from_regex(r"o-[a-z0-9]{10,32}", fullmatch=True), st.from_regex(r"[0-9]{12}", fullmatch=True))
def test_well_formed_ids_pass(organization_id, account):
    _central(organization_id=organization_id, member_accounts=[account], member_regions=[REGION])


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=1, max_size=20).filter(lambda text: "${Token[" not in text))
def test_any_unknown_region_fails_naming_the_argument(value):
    from constructs_lib.org._validation import AWS_REGIONS

    if value in AWS_REGIONS:
        return
    with pytest.raises(ConstructValidationError) as raised:
        _central(member_accounts=[MEMBER], member_regions=[value])
    assert f"member_regions[0] {value!r} is not an AWS Region" in str(raised.value)
