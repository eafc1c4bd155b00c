"""Audit as code, read from the synthesized audit example: every mitigation action has its own
least-privilege role, the remediator is wired and granted what its policy needs."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template


@pytest.fixture(scope="module")
def template(example_assemblies) -> dict:
    return example_assemblies["audit_remediation"].get_stack_by_name("FleetAudit").template


def resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def policy_of_role(template: dict, role_logical_prefix: str) -> list[dict]:
    return [
        statement
        for r in resources(template, "AWS::IAM::Policy").values()
        if any(ref["Ref"].startswith(role_logical_prefix) for ref in r["Properties"]["Roles"])
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(statements: list[dict]) -> set[str]:
    return {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


@pytest.mark.parametrize(
    ("action", "params", "allowed"),
    [
        ("QuarantineThings", "AddThingsToThingGroupParams", {"iot:AddThingToThingGroup", "iot:ListPrincipalThings"}),
        ("DeactivateDeviceCertificate", "UpdateDeviceCertificateParams", {"iot:UpdateCertificate"}),
        ("DeactivateCaCertificate", "UpdateCACertificateParams", {"iot:UpdateCACertificate"}),
        ("BlankPolicy", "ReplaceDefaultPolicyVersionParams", {"iot:CreatePolicyVersion"}),
        ("EnableLogging", "EnableIoTLoggingParams", {"iot:SetV2LoggingOptions", "iam:PassRole"}),
        ("PublishFinding", "PublishFindingToSnsParams", {"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"}),
    ],
)
def test_each_mitigation_action_has_its_own_role_that_allows_only_its_job(template, action, params, allowed):
    [mitigation] = [r for k, r in resources(template, "AWS::IoT::MitigationAction").items() if k.startswith(action)]
    assert list(mitigation["Properties"]["ActionParams"]) == [params]
    role_id = mitigation["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    role = template["Resources"][role_id]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "iot.amazonaws.com"
    }
    assert actions(policy_of_role(template, role_id)) == allowed


def test_pass_role_is_limited_to_the_logging_role_and_to_iot(template):
    statements = policy_of_role(template, "EnableLoggingRole")
    assert [s["Action"] for s in statements].count("iam:PassRole") == 1
    Template.from_json(template).has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": Match.string_like_regexp("^EnableLoggingRole")}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "iam:PassRole",
                                "Condition": {"StringEquals": {"iam:PassedToService": "iot.amazonaws.com"}},
                                "Resource": {
                                    "Fn::GetAtt": [Match.string_like_regexp("^EnableLoggingLoggingRole"), "Arn"]
                                },
                            }
                        )
                    ]
                )
            },
        },
    )


def test_account_audit_sets_the_certificate_age_threshold(template):
    [config] = resources(template, "AWS::IoT::AccountAuditConfiguration").values()
    checks = config["Properties"]["AuditCheckConfigurations"]
    assert checks["DeviceCertificateAgeCheck"]["Configuration"] == {"CertAgeThresholdInDays": "730"}
    assert "IotPolicyOverlyPermissiveCheck" in checks and "ConflictingClientIdsCheck" not in checks


def test_remediator_queue_takes_only_audit_notifications(template):
    [subscription] = [
        s["Properties"] for s in resources(template, "AWS::SNS::Subscription").values() if "taskId" in json.dumps(s)
    ]
    assert subscription["FilterPolicyScope"] == "MessageBody"
    assert subscription["FilterPolicy"] == {"taskId": [{"exists": True}], "auditDetails": [{"exists": True}]}


def test_remediator_environment_and_grants_follow_its_policy(template):
    [function] = [
        f["Properties"]
        for f in resources(template, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "iot_defender_runtime.audit_remediation.handler.lambda_handler"
    ]
    variables = function["Environment"]["Variables"]
    assert variables["MAX_ACTIONS_PER_HOUR"] == "25"
    policy = json.loads(variables["AUDIT_REMEDIATION_POLICY"])
    assert policy["exemptGroups"] == ["lab-devices"]
    granted = actions(policy_of_role(template, "RemediatorFunctionRole"))
    assert {
        "iot:ListAuditFindings",
        "iot:UpdateCertificate",
        "iot:AddThingToThingGroup",
        "iot:GetPolicyVersion",
    } <= granted
    assert not any(a.endswith(":*") or a == "*" for a in granted)
