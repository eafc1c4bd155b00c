"""The account's audit configuration: which checks run, with which role, notifying where."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import ArnFormat, Aws, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from constructs import Construct

from constructs_lib._jsii import service_principal
from constructs_lib._validation import raise_if_any
from constructs_lib.alerts.alert_topic import TopicArgument, checked_alert_topic
from constructs_lib.nag import acknowledge, acknowledge_inline_policies
from iot_defender_runtime.model.audit_checks import ALL_AUDIT_CHECKS, AuditCheck

DEFAULT_CERT_AGE_DAYS = 365
# The Device Defender guide says 3652; the service refuses more than 3650 at deploy ("greater than the
# maximum supported threshold of 3650 days"), as aws-cdk's aws-iot-alpha found (aws/aws-cdk#35365).
MIN_CERT_AGE_DAYS, MAX_CERT_AGE_DAYS = 30, 3650
# Read-only actions the audit needs; the same set as the AWS managed policy
# AWSIoTDeviceDefenderAudit (v3), written out so that it can be scoped and reviewed.
_LIST_ACTIONS = ["iot:ListCACertificates", "iot:ListCertificates", "iot:ListPolicies", "iot:ListRoleAliases"]
_ACCOUNT_SETTINGS_ACTIONS = ["iot:GetLoggingOptions", "iot:GetV2LoggingOptions"]


class AccountAudit(Construct):
    """``AWS::IoT::AccountAuditConfiguration``: one per account and region.

    The audit role is written out (no AWS managed policy): read-only IoT, IAM and Cognito calls
    scoped to this account and region where the API allows it.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        checks: Sequence[AuditCheck] = ALL_AUDIT_CHECKS,
        alert_topic: TopicArgument | None = None,
        device_certificate_age_days: int | None = None,
    ) -> None:
        """
        :param checks: the checks to enable. Default: all checks.
        :param alert_topic: where audit-completion notifications go: an ``AlertTopic`` or any ``sns.ITopic``
            (Device Defender publishes through a role of this account). Default: no notifications.
        :param device_certificate_age_days: age at which DEVICE_CERTIFICATE_AGE_CHECK reports a
            certificate, 30 to 3650 days; only with that check enabled. Default: 365 when the check is enabled.
        """
        super().__init__(scope, id)
        self._validate(checks, device_certificate_age_days)
        self.checks = tuple(dict.fromkeys(checks))
        age_days = DEFAULT_CERT_AGE_DAYS if device_certificate_age_days is None else device_certificate_age_days
        self.audit_role = iam.Role(
            self,
            "AuditRole",
            assumed_by=service_principal("iot.amazonaws.com"),
            description="Read-only access Device Defender audit needs to run its checks",
        )
        _grant_audit_reads(self.audit_role, self)
        notification_targets = self._notification_role(alert_topic)
        self.resource = iot.CfnAccountAuditConfiguration(
            self,
            "Resource",
            account_id=Aws.ACCOUNT_ID,
            role_arn=self.audit_role.role_arn,
            audit_check_configurations=self._check_configurations(age_days),
            audit_notification_target_configurations=notification_targets,
        )
        acknowledge_inline_policies(self, "the account audit (its read-only audit role and its notification role)")
        # The service checks the role when the configuration is written: its policy must exist first.
        self.resource.node.add_dependency(self.audit_role.node.find_child("DefaultPolicy"))
        if self.notification_role is not None:
            self.resource.node.add_dependency(self.notification_role.node.find_child("DefaultPolicy"))

    def _validate(self, checks: Sequence[AuditCheck], device_certificate_age_days: int | None) -> None:
        problems = _certificate_age_problems(checks, device_certificate_age_days)
        other = _other_audit_for_same_account(self)
        if other is not None:
            problems.append(
                f"{other} already configures account audit for this account and region; there is one "
                "configuration per account and region (define it once, or use AccountAudit.from_account)"
            )
        if not checks:
            problems.append("checks is empty; enable at least one audit check")
        for check in checks:
            if not isinstance(check, AuditCheck):
                allowed = ", ".join(c.name for c in AuditCheck)
                problems.append(f"checks entry {check!r} is not an AuditCheck; use one of {allowed}")
        raise_if_any(self, problems)

    def _notification_role(
        self, alert_topic: TopicArgument | None
    ) -> iot.CfnAccountAuditConfiguration.AuditNotificationTargetConfigurationsProperty | None:
        """A role only Device Defender can assume, that may only publish to the alert topic."""
        self.notification_role: iam.Role | None = None
        if alert_topic is None:
            return None
        topic = checked_alert_topic(self, "alert_topic", alert_topic)
        self.notification_role = topic.add_defender_publisher_role(
            self, "NotificationRole", description="Lets Device Defender audit publish completion notifications"
        )
        return iot.CfnAccountAuditConfiguration.AuditNotificationTargetConfigurationsProperty(
            sns=iot.CfnAccountAuditConfiguration.AuditNotificationTargetProperty(
                enabled=True, role_arn=self.notification_role.role_arn, target_arn=topic.topic_arn
            )
        )

    def _check_configurations(
        self, device_certificate_age_days: int
    ) -> iot.CfnAccountAuditConfiguration.AuditCheckConfigurationsProperty:
        """Each chosen check enabled; the certificate age check with its threshold."""
        enabled = iot.CfnAccountAuditConfiguration.AuditCheckConfigurationProperty(enabled=True)
        # Keyword names chosen per check; the certificate age check takes its own property type.
        configurations: dict[str, Any] = {check.cfn_property: enabled for check in self.checks}
        if AuditCheck.DEVICE_CERTIFICATE_AGE in self.checks:
            configurations[AuditCheck.DEVICE_CERTIFICATE_AGE.cfn_property] = (
                iot.CfnAccountAuditConfiguration.DeviceCertAgeAuditCheckConfigurationProperty(
                    enabled=True,
                    configuration=iot.CfnAccountAuditConfiguration.CertAgeCheckCustomConfigurationProperty(
                        cert_age_threshold_in_days=str(device_certificate_age_days)
                    ),
                )
            )
        return iot.CfnAccountAuditConfiguration.AuditCheckConfigurationsProperty(**configurations)

    @staticmethod
    def from_account(scope: Construct, id: str, *, checks: Sequence[AuditCheck]) -> ExistingAccountAudit:
        """Use an account audit configuration that exists outside this app (made in the console or by
        another stack): nothing is created, and scheduled audits are checked against ``checks``,
        the checks that configuration enables."""
        return ExistingAccountAudit(scope, id, checks=checks)


def _certificate_age_problems(checks: Sequence[AuditCheck], days: int | None) -> list[str]:
    """The threshold's bounds (the service's, not the guide's), and a threshold without its check."""
    if days is None:
        return []
    problems: list[str] = []
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_CERT_AGE_DAYS <= days <= MAX_CERT_AGE_DAYS:
        problems.append(
            f"device_certificate_age_days {days!r} must be a whole number of days from "
            f"{MIN_CERT_AGE_DAYS} to {MAX_CERT_AGE_DAYS}"
        )
    if AuditCheck.DEVICE_CERTIFICATE_AGE not in checks:
        problems.append(
            f"device_certificate_age_days {days!r} was given but checks does not enable "
            f"{AuditCheck.DEVICE_CERTIFICATE_AGE.value}; add that check or drop the threshold"
        )
    return problems


class ExistingAccountAudit(Construct):
    """An account audit configuration managed elsewhere (``AccountAudit.from_account``)."""

    def __init__(self, scope: Construct, id: str, *, checks: Sequence[AuditCheck]) -> None:
        super().__init__(scope, id)
        problems: list[str] = []
        if not checks:
            problems.append("checks is empty; list the checks the existing configuration enables")
        problems.extend(
            f"checks entry {check!r} is not an AuditCheck" for check in checks if not isinstance(check, AuditCheck)
        )
        raise_if_any(self, problems)
        self.checks = tuple(dict.fromkeys(checks))


def _env_key(construct: Construct) -> tuple[str, str] | None:
    """The account and region of a construct's stack, or None when either is left to deploy time."""
    stack = Stack.of(construct)
    if Token.is_unresolved(stack.account) or Token.is_unresolved(stack.region):
        return None
    return stack.account, stack.region


def _other_audit_for_same_account(audit: AccountAudit) -> str | None:
    """Another AccountAudit in this app that would configure the same account and region: in the
    same stack, or in a stack with the same concrete account and region."""
    mine = _env_key(audit)
    my_stack = Stack.of(audit)
    for construct in audit.node.root.node.find_all():
        if construct is audit or not isinstance(construct, AccountAudit):
            continue
        if Stack.of(construct) is my_stack or (mine is not None and _env_key(construct) == mine):
            return construct.node.path
    return None


def _grant_audit_reads(role: iam.Role, scope: Construct) -> None:
    stack = Stack.of(scope)

    def iot_arn(resource: str) -> str:
        return stack.format_arn(
            service="iot", resource=resource, resource_name="*", arn_format=ArnFormat.SLASH_RESOURCE_NAME
        )

    role.add_to_policy(
        iam.PolicyStatement(
            sid="DescribeIotResources",
            actions=[
                "iot:DescribeCertificate",
                "iot:DescribeCACertificate",
                "iot:GetPolicy",
                "iot:GetEffectivePolicies",
                "iot:DescribeRoleAlias",
            ],
            resources=[iot_arn("cert"), iot_arn("cacert"), iot_arn("policy"), iot_arn("rolealias")],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(sid="ListIotResources", actions=_LIST_ACTIONS + _ACCOUNT_SETTINGS_ACTIONS, resources=["*"])
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ReadRolesBehindRoleAliasesAndCognito",
            actions=[
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
            ],
            resources=[
                stack.format_arn(service="iam", region="", resource="role", resource_name="*"),
                stack.format_arn(service="iam", region="", resource="policy", resource_name="*"),
                stack.format_arn(service="iam", region="", account="aws", resource="policy", resource_name="*"),
            ],
        )
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="ReadCognitoIdentityPoolRoles",
            actions=["cognito-identity:GetIdentityPoolRoles"],
            resources=[stack.format_arn(service="cognito-identity", resource="identitypool", resource_name="*")],
        )
    )
    acknowledge(role, _audit_role_wildcard_reasons())


def _audit_role_wildcard_reasons() -> dict[str, str]:
    """Why each wildcard resource of the audit role is acceptable (cdk-nag AwsSolutions-IAM5)."""
    scoped = {
        "iot:<AWS::Region>:<AWS::AccountId>:cert/*": "device certificate",
        "iot:<AWS::Region>:<AWS::AccountId>:cacert/*": "CA certificate",
        "iot:<AWS::Region>:<AWS::AccountId>:policy/*": "IoT policy",
        "iot:<AWS::Region>:<AWS::AccountId>:rolealias/*": "role alias",
        "iam::<AWS::AccountId>:role/*": "IAM role behind a role alias or Cognito identity pool",
        "iam::<AWS::AccountId>:policy/*": "customer-managed policy attached to those roles",
        "cognito-identity:<AWS::Region>:<AWS::AccountId>:identitypool/*": "Cognito identity pool",
    }
    reasons = {
        f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:{resource}]": (
            f"Device Defender audit examines every {what} of this account to find non-compliant ones; the "
            "resource is scoped to this account (and region where the service is regional); read-only actions."
        )
        for resource, what in scoped.items()
    }
    reasons["AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::aws:policy/*]"] = (
        "The audit reads AWS managed policies attached to role-alias and Cognito roles to judge how "
        "permissive they are; read-only."
    )
    reasons["AwsSolutions-IAM5[Resource::*]"] = (
        "The IoT list actions (ListCertificates, ListCACertificates, ListPolicies, ListRoleAliases) and "
        "logging-options reads support no resource-level permissions (Service Authorization Reference); "
        "they are read-only and are what the audit enumerates."
    )
    return reasons
