"""The reference app: every stage synthesizes with cdk-nag passing, cfn-lint clean, least privilege."""

from __future__ import annotations

from pathlib import Path

import pytest

from constructs_lib.synth_report import cfn_lint_findings

STAGES = ("dev", "prod")


def _template(assembly, stage: str) -> dict:
    return assembly.get_stack_by_name(f"DeviceDefender-{stage}").template


def _statements(template: dict) -> list[dict]:
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::Role"):
            documents = [resource["Properties"].get("PolicyDocument")] + [
                policy["PolicyDocument"] for policy in resource["Properties"].get("Policies", [])
            ]
            for document in filter(None, documents):
                found.extend(document["Statement"])
    return found


def _as_list(value):
    return value if isinstance(value, list) else [value]


def test_every_stage_synthesizes_with_nag_packs_passing(reference_assembly):
    # Given the app with AwsSolutions and Serverless packs, When synthesized (the fixture would
    # raise ValidationFailed on any unacknowledged error), Then each stage has its stack.
    names = {stack.stack_name for stack in reference_assembly.stacks}
    assert names == {f"DeviceDefender-{stage}" for stage in STAGES}


@pytest.mark.parametrize("stage", STAGES)
def test_cfn_lint_is_clean(reference_assembly, stage):
    path = Path(reference_assembly.directory) / f"DeviceDefender-{stage}.template.json"
    assert cfn_lint_findings(path) == []


@pytest.mark.parametrize("stage", STAGES)
def test_no_iot_wildcard_action_and_no_star_resource_for_scoped_iot_actions(reference_assembly, stage):
    list_actions = {
        "iot:ListCACertificates",
        "iot:ListCertificates",
        "iot:ListPolicies",
        "iot:ListRoleAliases",
        "iot:ListAuditFindings",
        "iot:ListPrincipalThings",
    }
    settings_reads = {"iot:GetLoggingOptions", "iot:GetV2LoggingOptions"}
    xray = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    for statement in _statements(_template(reference_assembly, stage)):
        actions = set(_as_list(statement["Action"]))
        assert not any(action in ("iot:*", "*") for action in actions), statement
        if "*" in _as_list(statement.get("Resource", [])):
            assert actions <= list_actions | settings_reads | xray, statement


@pytest.mark.parametrize("stage", STAGES)
def test_every_nag_acknowledgment_carries_a_reason(reference_assembly, stage):
    template = _template(reference_assembly, stage)
    acknowledged = [
        rule
        for resource in template["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert acknowledged
    for rule in acknowledged:
        assert len(rule["reason"]) >= 40, rule


def test_stages_differ_in_audit_frequency_dry_run_and_notification_target(reference_assembly):
    def pick(stage: str, resource_type: str) -> list[dict]:
        return [
            r["Properties"]
            for r in _template(reference_assembly, stage)["Resources"].values()
            if r["Type"] == resource_type
        ]

    assert pick("dev", "AWS::IoT::ScheduledAudit")[0]["Frequency"] == "WEEKLY"
    assert pick("prod", "AWS::IoT::ScheduledAudit")[0]["Frequency"] == "DAILY"
    dry_runs = {
        stage: next(
            f["Environment"]["Variables"]["DRY_RUN"]
            for f in pick(stage, "AWS::Lambda::Function")
            if "Environment" in f and "DRY_RUN" in f["Environment"]["Variables"]
        )
        for stage in STAGES
    }
    assert dry_runs == {"dev": "false", "prod": "true"}
    emails = {
        stage: [s["Endpoint"] for s in pick(stage, "AWS::SNS::Subscription") if s["Protocol"] == "email"]
        for stage in STAGES
    }
    assert emails == {"dev": ["iot-dev-alerts@example.com"], "prod": ["iot-security-oncall@example.com"]}


@pytest.mark.parametrize("stage", STAGES)
def test_no_security_profile_unless_managed_detect_is_chosen(reference_assembly, stage):
    # Accounts without managed Detect (closed to new customers) must be able to deploy the app.
    types = {r["Type"] for r in _template(reference_assembly, stage)["Resources"].values()}
    assert "AWS::IoT::SecurityProfile" not in types


def test_stacks_are_environment_agnostic(reference_assembly):
    for stack in reference_assembly.stacks:
        assert stack.environment.account == "unknown-account"
        assert stack.environment.region == "unknown-region"


def test_each_function_asset_holds_only_its_own_runtime(reference_assembly):
    assets = [
        Path(reference_assembly.directory) / entry.name
        for entry in Path(reference_assembly.directory).iterdir()
        if entry.name.startswith("asset.") and (entry / "iot_defender_runtime").is_dir()
    ]
    assert assets, "no staged lambdas asset found"
    for asset in assets:
        packages = sorted(p.name for p in (asset / "iot_defender_runtime").iterdir() if p.is_dir())
        assert packages in (
            ["adapters", "model", "quarantine", "remediation"],
            ["adapters", "audit_remediation", "model", "remediation"],
        )
        assert not list(asset.rglob("__pycache__"))


@pytest.mark.parametrize(("stage", "limit"), [("dev", "20"), ("prod", "50")])
def test_operator_outputs_and_breaker_limit_per_stage(reference_assembly, stage, limit):
    template = _template(reference_assembly, stage)
    assert set(template["Outputs"]) >= {"QuarantineGroupName", "StateTableName", "NotifyTopicArn"}
    [variables] = [
        r["Properties"]["Environment"]["Variables"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and "MAX_QUARANTINES_PER_HOUR" in str(r)
    ]
    assert variables["MAX_QUARANTINES_PER_HOUR"] == limit
