"""DeviceDefender's one-argument integrations: ``security_view`` forwards both topics to a central
account, ``security_hub`` imports findings (self-hosted violations only with self-hosted Detect);
nag-clean, and a wrong argument fails at synth naming it."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from constructs_lib import (
    CentralDelivery,
    DetectMode,
    DeviceDefender,
    SecurityViewTarget,
    StarterBehaviors,
    apply_nag_packs,
)
from constructs_lib._validation import ConstructValidationError
from tests.synth.templates import of_type

CENTRAL = "999999999999"


def _stack(**kwargs: Any) -> dict[str, Any]:
    app = cdk.App()
    apply_nag_packs(app)
    stack = cdk.Stack(app, "Member", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    DeviceDefender(stack, "Defender", fleet_groups=["sensors"], notification_email="ops@example.com", **kwargs)
    return Template.from_stack(stack).to_json()  # synth runs the nag packs: an unacknowledged error raises


@pytest.fixture(scope="module")
def self_hosted() -> dict[str, Any]:
    return _stack(
        detect_mode=DetectMode.SELF_HOSTED,
        behaviors=[StarterBehaviors.message_storm(max_messages=100)],
        security_view=SecurityViewTarget(central_account=CENTRAL),
        security_hub=True,
    )


def test_security_hub_imports_from_both_topics_with_self_hosted_detect(self_hosted: dict[str, Any]) -> None:
    subscriptions = of_type(self_hosted, "AWS::SNS::Subscription")
    hub_queue = [s for s in subscriptions.values() if "SecurityHub" in str(s["Properties"]["Endpoint"])]
    topics = {str(s["Properties"]["TopicArn"]) for s in hub_queue}
    assert len(topics) == 2  # the alert topic (violations) and the notification topic (decisions, remediations)
    statements = [
        statement
        for policy in of_type(self_hosted, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "securityhub" in str(statement["Action"])
    ]
    assert [s["Action"] for s in statements] == ["securityhub:BatchImportFindings"]
    assert "product/111111111111/default" in str(statements[0]["Resource"])


def test_security_view_forwards_both_topics_to_the_central_bus(self_hosted: dict[str, Any]) -> None:
    rules = of_type(self_hosted, "AWS::Events::Rule")
    targets = [t for rule in rules.values() for t in rule["Properties"].get("Targets", [])]
    central = f":events:eu-west-1:{CENTRAL}:event-bus/iot-defender-security-view"  # after arn:<partition>
    assert any(central in str(t["Arn"]) for t in targets)
    forwarded = {
        str(s["Properties"]["TopicArn"])
        for s in of_type(self_hosted, "AWS::SNS::Subscription").values()
        if "SecurityView" in str(s["Properties"]["Endpoint"])
    }
    assert len(forwarded) == 2


def test_managed_detect_violations_are_left_to_the_native_integration() -> None:
    template = _stack(
        detect_mode=DetectMode.MANAGED,
        behaviors=[StarterBehaviors.message_storm(max_messages=100)],
        security_hub=True,
    )
    hub = [
        s
        for s in of_type(template, "AWS::SNS::Subscription").values()
        if "SecurityHub" in str(s["Properties"]["Endpoint"])
    ]
    assert len(hub) == 1  # the notification topic only


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"security_hub": "yes"}, "security_hub 'yes' must be True or False"),
        ({"security_view": CENTRAL}, f"security_view '{CENTRAL}' must be a SecurityViewTarget"),
        (
            {"security_view": SecurityViewTarget(central_account="12345", delivery=CentralDelivery.QUEUE)},
            "12345",
        ),
    ],
)
def test_wrong_arguments_fail_at_synth_naming_them(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ConstructValidationError, ValueError), match=message):
        _stack(**kwargs)
