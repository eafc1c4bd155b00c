"""app.py context switches: one stage with -c stage=..., managed Detect with -c detect=managed."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest

from constructs_lib.synth_report import cfn_lint_findings
from tests.conftest import REPO, load_module

CONTEXT = json.loads((REPO / "cdk.json").read_text())["context"]
reference_app = load_module(REPO / "app.py", "reference_app_context")


def test_stage_context_builds_only_that_stage():
    app = cdk.App(context={**CONTEXT, "stage": "prod"})
    stacks = reference_app.build(app)
    assert [stack.stack_name for stack in stacks] == ["DeviceDefender-prod"]


def test_fails_when_stage_is_not_in_cdk_json():
    app = cdk.App(context={**CONTEXT, "stage": "qa"})
    with pytest.raises(ValueError, match=r"^context stage 'qa' is not defined in cdk\.json; defined: dev, prod$"):
        reference_app.build(app)


def test_managed_detect_adds_a_security_profile_and_stays_clean(tmp_path: Path):
    app = cdk.App(outdir=str(tmp_path), context={**CONTEXT, "stage": "dev", "detect": "managed"})
    reference_app.build(app)
    assembly = app.synth()  # raises ValidationFailed on any unacknowledged cdk-nag error
    template = assembly.get_stack_by_name("DeviceDefender-dev").template
    [profile] = [r for r in template["Resources"].values() if r["Type"] == "AWS::IoT::SecurityProfile"]
    names = [b["Name"] for b in profile["Properties"]["Behaviors"]]
    assert names == ["MessageStorm", "CredentialMisuse", "ConnectionChurn"]
    assert cfn_lint_findings(tmp_path / "DeviceDefender-dev.template.json") == []


def test_self_hosted_detect_deploys_the_evaluator_and_stays_clean(tmp_path: Path):
    app = cdk.App(outdir=str(tmp_path), context={**CONTEXT, "stage": "prod", "detect": "self-hosted"})
    reference_app.build(app)
    assembly = app.synth()  # raises ValidationFailed on any unacknowledged cdk-nag error
    template = assembly.get_stack_by_name("DeviceDefender-prod").template
    types = [r["Type"] for r in template["Resources"].values()]
    assert "AWS::IoT::SecurityProfile" not in types
    assert types.count("AWS::Kinesis::Stream") == 1
    assert types.count("AWS::IoT::TopicRule") == 2  # messages sent, connection attempts
    assert "AWS::Logs::SubscriptionFilter" not in types  # AWS IoT logs are a choice (-c iotLogs=true)
    assert cfn_lint_findings(tmp_path / "DeviceDefender-prod.template.json") == []


def test_self_hosted_detect_reads_authorization_failures_only_when_iot_logs_are_on(tmp_path: Path):
    context = {**CONTEXT, "stage": "prod", "detect": "self-hosted", "iotLogs": "true"}
    app = cdk.App(outdir=str(tmp_path), context=context)
    [stack] = reference_app.build(app)
    template = app.synth().get_stack_by_name("DeviceDefender-prod").template
    [subscription] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Logs::SubscriptionFilter"]
    assert subscription["Properties"]["LogGroupName"] == "AWSIotLogsV2"
    names = [b.name for b in stack.defender.self_hosted_detect.behaviors]
    assert names == ["MessageStorm", "CredentialMisuse", "ConnectionChurn"]  # the managed profile's behaviors
    assert cfn_lint_findings(tmp_path / "DeviceDefender-prod.template.json") == []
