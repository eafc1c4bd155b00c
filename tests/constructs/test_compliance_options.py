"""The compliance options: vpc/vpc_subnets, backup_plan, the evaluator's reserved concurrency, the
notification topic of self-hosted Detect, and the compliance packs by name."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Match, Template

from constructs_lib import (
    CompliancePack,
    ConstructValidationError,
    DeviceDefender,
    QuarantineGroup,
    QuarantineResponder,
    SelfHostedDetect,
    StarterBehaviors,
    apply_nag_packs,
    compliance_pack,
)


def _vpc(stack: cdk.Stack) -> ec2.IVpc:
    return ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=["eu-west-1a", "eu-west-1b"],
        private_subnet_ids=["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
    )


def _synth_with_packs(build) -> dict:
    app = cdk.App()
    stack = cdk.Stack(app, "S")
    build(stack)
    apply_nag_packs(app, compliance=["nist", "hipaa"])
    return app.synth().get_stack_by_name("S").template


def _acknowledged(template: dict, resource_type: str) -> list[str]:
    return [
        rule["id"]
        for resource in template["Resources"].values()
        if resource["Type"] == resource_type
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]


def test_functions_run_in_the_given_vpc_with_a_security_group_of_their_own():
    stack = cdk.Stack(cdk.App(), "S")
    QuarantineResponder(stack, "Responder", quarantine_group=QuarantineGroup(stack, "Q"), vpc=_vpc(stack))
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {"VpcId": "vpc-0123456789abcdef0", "SecurityGroupEgress": [Match.object_like({"CidrIp": "0.0.0.0/0"})]},
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": Match.string_like_regexp("quarantine"),
            "VpcConfig": {
                "SubnetIds": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
                "SecurityGroupIds": [Match.any_value()],
            },
        },
    )


def test_device_defender_in_a_vpc_passes_both_compliance_packs_without_a_vpc_acknowledgment():
    def build(stack: cdk.Stack) -> None:
        DeviceDefender(
            stack,
            "D",
            fleet_groups=["sensors"],
            notification_email="ops@example.com",
            detect_mode="self-hosted",
            behaviors=[StarterBehaviors.message_storm(max_messages=100)],
            vpc=_vpc(stack),
            backup_plan=True,
        )

    template = _synth_with_packs(build)
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert sum("VpcConfig" in f["Properties"] for f in functions) == 3  # responder, remediator, evaluator
    # Only the AwsCustomResource function (deploy-time IoT calls) stays outside the VPC, acknowledged.
    outside = [
        k
        for k, r in template["Resources"].items()
        if r["Type"] == "AWS::Lambda::Function" and "VpcConfig" not in r["Properties"]
    ]
    assert len(outside) == 1 and outside[0].startswith("AWS679f53fac002430cb0da5b7982bd2287")
    assert _acknowledged(template, "AWS::Lambda::Function").count("NIST.800.53.R5-LambdaInsideVPC") == 1


def test_without_a_backup_plan_the_state_table_is_acknowledged_with_point_in_time_recovery():
    template = _synth_with_packs(
        lambda stack: DeviceDefender(stack, "D", fleet_groups=["sensors"], notification_email="ops@example.com")
    )
    assert _acknowledged(template, "AWS::DynamoDB::Table") == [
        "NIST.800.53.R5-DynamoDBInBackupPlan",
        "HIPAA.Security-DynamoDBInBackupPlan",
    ]
    [table] = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_with_a_backup_plan_the_state_table_is_selected_and_not_acknowledged():
    template = _synth_with_packs(
        lambda stack: DeviceDefender(
            stack, "D", fleet_groups=["sensors"], notification_email="ops@example.com", backup_plan=True
        )
    )
    assert _acknowledged(template, "AWS::DynamoDB::Table") == []
    [selection] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Backup::BackupSelection"]
    [table_id] = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"]
    assert table_id in str(selection["Properties"]["BackupSelection"]["Resources"])


def test_fails_when_vpc_subnets_are_given_without_a_vpc():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        QuarantineResponder(
            stack,
            "Responder",
            quarantine_group=QuarantineGroup(stack, "Q"),
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
        )
    assert str(raised.value) == "S/Responder: vpc_subnets was given without vpc; give the VPC the subnets belong to"


def test_fails_when_backup_plan_is_not_a_boolean():
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        DeviceDefender(stack, "D", fleet_groups=["g"], notification_email="ops@example.com", backup_plan="daily")  # type: ignore[arg-type]
    assert str(raised.value) == "S/D: backup_plan 'daily' must be True or False"


def _detect(stack: cdk.Stack, **kwargs) -> SelfHostedDetect:
    return SelfHostedDetect(
        stack,
        "Detect",
        alert_topic=cdk.aws_sns.Topic(stack, "Alerts"),
        behaviors=[StarterBehaviors.message_storm(max_messages=100)],
        **kwargs,
    )


def test_the_evaluator_has_reserved_concurrency_and_its_alarms_notify_its_notification_topic():
    stack = cdk.Stack(cdk.App(), "S")
    _detect(stack, reserved_concurrency=6)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": 6})
    [topic] = [k for k in template.find_resources("AWS::SNS::Topic") if k.startswith("DetectNotificationTopic")]
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 2
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]


@pytest.mark.parametrize("concurrency", [1, 1001, 2.5])
def test_fails_when_the_evaluator_concurrency_is_out_of_range(concurrency):
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        _detect(stack, reserved_concurrency=concurrency)
    assert str(raised.value) == (
        f"S/Detect: reserved_concurrency {concurrency!r} must be an integer from 2 to 1000 "
        "(one per stream shard and one for the sweep)"
    )


def test_compliance_packs_by_short_name_or_value():
    assert compliance_pack("nist") is CompliancePack.NIST_800_53_R5
    assert compliance_pack("hipaa-security") is CompliancePack.HIPAA_SECURITY


def test_fails_when_a_compliance_pack_is_unknown():
    with pytest.raises(ValueError) as raised:
        apply_nag_packs(cdk.App(), compliance=["pci"])
    assert str(raised.value) == ("compliance pack 'pci' is not one of nist, hipaa, nist-800-53-r5, hipaa-security")
