"""DeviceDefender: the composite in a dozen lines, its Detect switch and its validation."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Template

from constructs_lib import (
    AlertTopic,
    AuditSchedule,
    Behavior,
    ComparisonOperator,
    ConstructValidationError,
    DayOfWeek,
    DetectMode,
    DeviceDefender,
    FleetGroup,
)


def storm() -> Behavior:
    return Behavior.rule(
        "MessageStorm",
        metric="aws:num-messages-sent",
        operator=ComparisonOperator.LESS_THAN_EQUALS,
        value=1000,
        duration=Duration.minutes(5),
    )


@pytest.fixture(scope="module")
def managed() -> Template:
    stack = cdk.Stack(cdk.App(), "Managed")
    existing = FleetGroup.from_thing_group_name(stack, "Gateways", "gateways")
    DeviceDefender(
        stack,
        "Defender",
        fleet_groups=["sensors", existing],
        behaviors=[storm()],
        detect_mode=DetectMode.MANAGED,
        audit_schedule=AuditSchedule.biweekly(DayOfWeek.WED),
        notification_email="secops@example.com",
    )
    return Template.from_stack(stack)


def test_managed_mode_creates_a_security_profile_over_every_fleet_group(managed):
    [profile] = managed.find_resources("AWS::IoT::SecurityProfile").values()
    targets = str(profile["Properties"]["TargetArns"])
    assert "thinggroup/gateways" in targets
    assert "DefenderFleet0" in targets
    assert profile["Properties"]["Behaviors"][0]["Name"] == "MessageStorm"


def test_composes_the_whole_setup(managed):
    managed.resource_count_is("AWS::IoT::ThingGroup", 2)  # sensors + quarantine; gateways is imported
    managed.resource_count_is("AWS::IoT::AccountAuditConfiguration", 1)
    managed.has_resource_properties("AWS::IoT::ScheduledAudit", {"Frequency": "BIWEEKLY", "DayOfWeek": "WED"})
    managed.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "secops@example.com"})
    managed.resource_count_is("Custom::IotPolicyThingGroupAttachment", 1)
    # The quarantine responder and the audit remediator, sharing one state table
    managed.resource_count_is("AWS::Lambda::EventSourceMapping", 2)
    managed.resource_count_is("AWS::DynamoDB::Table", 1)


def test_none_mode_deploys_without_a_security_profile():
    stack = cdk.Stack(cdk.App(), "Plain")
    DeviceDefender(stack, "Defender", fleet_groups=["sensors"], notification_topic=AlertTopic(stack, "Ops"))
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::IoT::SecurityProfile", 0)
    template.has_resource_properties("AWS::IoT::ScheduledAudit", {"Frequency": "WEEKLY", "DayOfWeek": "MON"})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"fleet_groups": [], "notification_email": "a@example.com"},
            "S/D: fleet_groups is empty; give at least one thing group name or FleetGroup",
        ),
        (
            {"fleet_groups": ["f"], "detect_mode": DetectMode.MANAGED, "notification_email": "a@example.com"},
            "S/D: detect_mode MANAGED needs at least one behavior",
        ),
        (
            {"fleet_groups": ["f"], "behaviors": "storm", "notification_email": "a@example.com"},
            "S/D: behaviors were given (1) but detect_mode is NONE, so nothing would evaluate them; choose "
            "DetectMode.MANAGED (accounts that had Detect before 2026-08-31), DetectMode.SELF_HOSTED, or drop them",
        ),
        ({"fleet_groups": ["f"]}, "S/D: give exactly one of notification_email and notification_topic"),
        (
            {"fleet_groups": ["f"], "notification_email": "not-an-address"},
            "S/D: notification_email 'not-an-address' is not an email address",
        ),
        (
            {"fleet_groups": ["f"], "detect_mode": "self-hosted", "notification_email": "a@example.com"},
            "S/D: detect_mode SELF_HOSTED needs at least one behavior",
        ),
        (
            {"fleet_groups": ["f"], "detect_mode": "cloud", "notification_email": "a@example.com"},
            "S/D: detect_mode 'cloud' is not one of managed, self-hosted, none",
        ),
    ],
)
def test_fails_when_arguments_do_not_fit(arguments, message):
    if arguments.get("behaviors") == "storm":
        arguments = {**arguments, "behaviors": [storm()]}
    stack = cdk.Stack(cdk.App(), "S")
    with pytest.raises(ConstructValidationError) as raised:
        DeviceDefender(stack, "D", **arguments)
    assert str(raised.value) == message


def test_adopts_an_existing_account_audit_configuration():
    from constructs_lib import AccountAudit, AuditCheck

    stack = cdk.Stack(cdk.App(), "Adopt")
    existing = AccountAudit.from_account(stack, "Existing", checks=[AuditCheck.DEVICE_CERTIFICATE_SHARED])
    DeviceDefender(stack, "D", fleet_groups=["f"], notification_email="a@example.com", existing_account_audit=existing)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::IoT::AccountAuditConfiguration", 0)
    template.has_resource_properties(
        "AWS::IoT::ScheduledAudit", {"TargetCheckNames": ["DEVICE_CERTIFICATE_SHARED_CHECK"]}
    )
