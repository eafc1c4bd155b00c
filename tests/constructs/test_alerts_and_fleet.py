"""AlertTopic, FleetGroup and QuarantineGroup: synthesized properties, IAM and validation messages."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Match, Template

from constructs_lib import AlertTopic, ConstructValidationError, FleetGroup, QuarantineGroup
from tests.constructs.matchers import scoped_arn


@pytest.fixture(scope="module")
def template() -> Template:
    stack = cdk.Stack(cdk.App(), "Fleet")
    topic = AlertTopic(stack, "Alerts")
    publisher = iam.Role(stack, "Publisher", assumed_by=iam.ServicePrincipal("iot.amazonaws.com"))
    topic.grant_publish(publisher)
    parent = FleetGroup(stack, "Parent", thing_group_name="plant-a")
    FleetGroup(stack, "Child", thing_group_name="plant-a-sensors", parent=parent, attributes={"site": "plant-a"})
    QuarantineGroup(stack, "Quarantine", thing_group_name="quarantine", policy_name="quarantine-policy")
    return Template.from_stack(stack)


def test_alert_topic_uses_a_rotating_customer_managed_key(template):
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": Match.object_like({"Fn::GetAtt": Match.any_value()})}
    )


def test_alert_topic_policy_is_tls_only_and_owner_only(template):
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
                        Match.object_like(
                            {
                                "Sid": "DenyOtherAccounts",
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Condition": {
                                    "StringNotEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}},
                                    "Bool": {"aws:PrincipalIsAWSService": "false"},
                                },
                            }
                        ),
                    ]
                )
            }
        },
    )


def test_grant_publish_gives_sns_publish_and_the_key_actions(template):
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": Match.string_like_regexp("Publisher")}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Action": "sns:Publish", "Resource": {"Ref": Match.string_like_regexp("Alerts")}}
                        ),
                        Match.object_like({"Action": ["kms:GenerateDataKey", "kms:Decrypt"]}),
                    ]
                )
            },
        },
    )


def test_fleet_group_has_parent_and_attributes(template):
    template.has_resource_properties(
        "AWS::IoT::ThingGroup",
        {
            "ThingGroupName": "plant-a-sensors",
            "ParentGroupName": {"Ref": Match.string_like_regexp("Parent")},
            "ThingGroupProperties": {"AttributePayload": {"Attributes": {"site": "plant-a"}}},
        },
    )


def test_quarantine_policy_lets_a_device_connect_as_itself_and_use_only_its_jobs_topics(template):
    policy = next(iter(template.find_resources("AWS::IoT::Policy").values()))["Properties"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert policy["PolicyName"] == "quarantine-policy"
    assert [s["Effect"] for s in statements.values()].count("Allow") == 4
    assert statements["ConnectAsItself"]["Action"] == "iot:Connect"
    template.has_resource_properties(
        "AWS::IoT::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "ConnectAsItself",
                                "Resource": scoped_arn("iot", "client/${iot:Connection.Thing.ThingName}"),
                            }
                        ),
                        Match.object_like(
                            {
                                "Sid": "DenyTopicsOutsideJobs",
                                "NotResource": scoped_arn(
                                    "iot", "topic/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*"
                                ),
                            }
                        ),
                    ]
                )
            }
        },
    )
    denied = statements["DenyShadowsRetainedAndCredentials"]
    assert denied["Resource"] == "*"
    assert {"iot:UpdateThingShadow", "iot:AssumeRoleWithCertificate", "iot:RetainPublish"} <= set(denied["Action"])


def test_quarantine_policy_is_attached_on_create_and_detached_on_delete(template):
    [attachment] = template.find_resources("Custom::IotPolicyThingGroupAttachment").values()
    create = str(attachment["Properties"]["Create"])
    delete = str(attachment["Properties"]["Delete"])
    assert '"action":"attachPolicy"' in create
    assert '"action":"detachPolicy"' in delete
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Action": ["iot:AttachPolicy", "iot:DetachPolicy"],
                            "Resource": [
                                Match.object_like({"Fn::Join": Match.any_value()}),
                                {"Fn::GetAtt": [Match.string_like_regexp("QuarantineGroup"), "Arn"]},
                            ],
                        }
                    )
                ]
            }
        },
    )


def test_fails_when_thing_group_name_is_invalid():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        FleetGroup(stack, "G", thing_group_name="has space")
    assert str(raised.value) == "S/G: thing_group_name 'has space' must be 1 to 128 characters of [a-zA-Z0-9:_-]"


def test_fails_when_attributes_are_invalid_reporting_all_at_once():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        FleetGroup(stack, "G", attributes={"bad key": "ok", "site": "a b"})
    assert raised.value.problems == (
        "attributes key 'bad key' must be 1 to 128 characters of [a-zA-Z0-9_.,@/:#-]",
        "attributes['site'] value 'a b' must be at most 800 characters of [a-zA-Z0-9_.,@/:#=[]-]",
    )


def test_fails_when_quarantine_policy_name_is_invalid():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        QuarantineGroup(stack, "Q", policy_name="no/slashes")
    assert str(raised.value) == "S/Q: policy_name 'no/slashes' must be 1 to 128 characters of [a-zA-Z0-9:_-]"


def test_imported_fleet_group_has_an_arn_in_this_account_and_region():
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="111122223333", region="eu-west-1"))
    group = FleetGroup.from_thing_group_name(stack, "Meters", "smart-meters")
    assert group.thing_group_name == "smart-meters"
    assert stack.resolve(group.thing_group_arn) == {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iot:eu-west-1:111122223333:thinggroup/smart-meters"]]
    }
