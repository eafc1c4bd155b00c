"""The reference app with the NIST 800-53 R5 and HIPAA Security packs (``-c compliance=nist,hipaa``)
synthesizes in every Detect mode with no unacknowledged finding, cfn-lint clean; what the packs ask
for is fixed where the library can fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from constructs_lib.synth_report import cfn_lint_findings
from tests.conftest import COMPLIANCE_MODES
from tests.synth.templates import acknowledgments, of_type, references


def _template(compliance_assemblies, mode: str) -> dict:
    [stack] = compliance_assemblies[mode].stacks
    return stack.template


@pytest.mark.parametrize("mode", COMPLIANCE_MODES)
def test_every_detect_mode_passes_all_four_packs(compliance_assemblies, mode):
    # Given app.py with -c compliance=nist,hipaa, When synthesized (the fixture raises on any
    # unacknowledged error), Then the stack records the four packs it was checked with.
    template = _template(compliance_assemblies, mode)
    assert template["Metadata"]["cdk_nag"]["packs"] == [
        "AwsSolutions",
        "Serverless",
        "NIST.800.53.R5",
        "HIPAA.Security",
    ]


@pytest.mark.parametrize("mode", COMPLIANCE_MODES)
def test_cfn_lint_is_clean_with_the_compliance_fixes(compliance_assemblies, mode):
    [stack] = compliance_assemblies[mode].stacks
    assert cfn_lint_findings(Path(compliance_assemblies[mode].directory) / stack.template_file) == []


def test_fixed_not_acknowledged_log_groups_alarms_provider_function_and_backups(compliance_assemblies):
    template = _template(compliance_assemblies, "self-hosted")
    [key_id] = [k for k in of_type(template, "AWS::KMS::Key") if k.startswith("IotDefenderLogsKey")]
    for log_group in of_type(template, "AWS::Logs::LogGroup").values():
        assert references(log_group["Properties"]["KmsKeyId"]) == {key_id}
    for function in of_type(template, "AWS::Lambda::Function").values():
        assert function["Properties"]["ReservedConcurrentExecutions"] >= 1
        assert "DeadLetterConfig" in function["Properties"]
    [table] = of_type(template, "AWS::DynamoDB::Table")
    [selection] = of_type(template, "AWS::Backup::BackupSelection").values()
    assert table in references(selection["Properties"]["BackupSelection"]["Resources"])
    fixed = ("CloudWatchLogGroupEncrypted", "CloudWatchAlarmAction", "LambdaConcurrency", "LambdaDLQ", "InBackupPlan")
    for _, _, rule, _ in acknowledgments(template):
        assert not rule.endswith(fixed), rule


def test_the_logs_key_lets_only_cloudwatch_logs_of_this_account_use_it(compliance_assemblies):
    template = _template(compliance_assemblies, "none")
    [key] = [r for k, r in of_type(template, "AWS::KMS::Key").items() if k.startswith("IotDefenderLogsKey")]
    [statement] = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "CloudWatchLogsOfThisAccount"
    ]
    assert statement["Principal"] == {
        "Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    }
    assert list(statement["Condition"]["ArnLike"]) == ["kms:EncryptionContext:aws:logs:arn"]
    assert key["Properties"]["EnableKeyRotation"] is True


def test_compliance_acknowledgments_only_where_the_packs_run(reference_assembly):
    # Given the default app (AwsSolutions and Serverless only), Then no template acknowledges a rule
    # of a pack that did not check it.
    for stack in reference_assembly.stacks:
        for _, _, rule, _ in acknowledgments(stack.template):
            assert rule.startswith(("AwsSolutions-", "Serverless-")), rule
