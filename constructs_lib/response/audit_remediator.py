"""The audit remediator: audit-completion notifications in, findings paged and acted on."""

from __future__ import annotations

import warnings
from typing import ClassVar

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct
from typing_extensions import Unpack

from constructs_lib._metrics import MetricOptions
from constructs_lib.alerts.alert_topic import TopicArgument
from constructs_lib.fleet.quarantine_group import QuarantineGroup
from constructs_lib.lambda_packaging import DEFAULT_POWERTOOLS_LAYER_VERSION
from constructs_lib.response.queued_function import MAX_POLICY_JSON_CHARACTERS, FunctionNetwork
from constructs_lib.response.response_function import (
    DEFAULT_MAX_ACTIONS_PER_HOUR,
    SCOPED_IOT,
    Keyword,
    ResponseFunction,
)
from iot_defender_runtime.model.audit_remediation_policy import AuditAction, AuditRemediationPolicy

METRICS_NAMESPACE = "DeviceDefender/AuditRemediation"
SERVICE = "audit-remediator"


class AuditRemediator(ResponseFunction):
    """Consumes audit-completion notifications from an ``AlertTopic`` (the one ``AccountAudit``
    notifies), pages through ``ListAuditFindings`` for every non-compliant check and applies the
    audit remediation policy: by default a revoked device certificate that is still active is
    deactivated, things sharing a certificate are quarantined, every other check is notified.

    Same guarantees as the quarantine responder: each finding handled once, dry run, a breaker on
    actions per hour, partial batch failures, a dead-letter queue, an action log and notifications.
    Pass the responder's ``table`` to share quarantine records, so one release procedure covers both.
    """

    METRICS_NAMESPACE: ClassVar[str] = METRICS_NAMESPACE
    SERVICE: ClassVar[str] = SERVICE
    _OWNER = "AuditRemediator"
    _FUNCTION_PACKAGE = "audit_remediation"
    _FUNCTION_DESCRIPTION = "Audit remediator: reads audit findings, deactivates or quarantines per policy, notifies"
    _BODY_KEYS = ("taskId", "auditDetails")
    _LIMIT_AND_POLICY_VARIABLES = ("MAX_ACTIONS_PER_HOUR", "AUDIT_REMEDIATION_POLICY")
    _ALARM_DESCRIPTIONS = (
        "Audit notifications the remediator could not process are waiting in its DLQ",
        "The audit remediator failed invocations",
        "The audit remediator's breaker tripped: actions are held until it resets",
    )
    remediation_policy: AuditRemediationPolicy

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        quarantine_group: QuarantineGroup,
        alert_topic: TopicArgument | None = None,
        notification_topic: TopicArgument | None = None,
        state_table: dynamodb.ITable | None = None,
        remediation_policy: AuditRemediationPolicy | None = None,
        dry_run: bool = False,
        max_actions_per_hour: int = DEFAULT_MAX_ACTIONS_PER_HOUR,
        batch_size: int = 1,
        reserved_concurrency: int = 1,
        powertools_layer_version: int = DEFAULT_POWERTOOLS_LAYER_VERSION,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        audit_topic: TopicArgument | None = None,
        policy: AuditRemediationPolicy | None = None,
    ) -> None:
        """The same keywords as ``QuarantineResponder``.

        :param quarantine_group: where things sharing a certificate are moved.
        :param alert_topic: the topic ``AccountAudit`` sends its notifications to (its ``alert_topic``),
            which this construct consumes: an ``AlertTopic`` or any ``sns.ITopic``. Default: a new ``AlertTopic``.
        :param notification_topic: where operators hear what was done, and where the alarms notify: an
            ``AlertTopic``, or any ``sns.ITopic`` (an imported topic's policies must already let
            ``cloudwatch.amazonaws.com`` publish; see ``ImportedAlertTopic``). Default: a new ``AlertTopic``.
        :param state_table: Default: a new table (share ``QuarantineResponder.table`` to share records).
        :param remediation_policy: Default: ``AuditRemediationPolicy.default()``.
        :param dry_run: decide and notify but change nothing. Default: false (act).
        :param max_actions_per_hour: the breaker's limit on changes (certificate deactivations and
            quarantines) per rolling hour, 1 to 10000. Default: 50.
        :param batch_size: notifications per invocation, 1 to 10; each may hold thousands of findings. Default: 1.
        :param reserved_concurrency: concurrent invocations, 1 to 20. Default: 1.
        :param powertools_layer_version: the Powertools for AWS Lambda (Python) layer version.
        :param vpc: run the function in this VPC, with a security group of its own that allows only outbound
            traffic (the subnets need a route to the AWS APIs it calls: NAT or VPC endpoints). Default: no VPC.
        :param vpc_subnets: which subnets of ``vpc``. Default: its private subnets.
        :param audit_topic: deprecated name of ``alert_topic``.
        :param policy: deprecated name of ``remediation_policy``.
        """
        super().__init__(
            scope,
            id,
            quarantine_group=quarantine_group,
            alert_topic=Keyword("alert_topic", alert_topic, "audit_topic", audit_topic),
            notification_topic=notification_topic,
            state_table=state_table,
            remediation_policy=Keyword("remediation_policy", remediation_policy, "policy", policy),
            dry_run=dry_run,
            max_actions_per_hour=Keyword("max_actions_per_hour", max_actions_per_hour),
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
            powertools_layer_version=powertools_layer_version,
            network=FunctionNetwork(vpc, vpc_subnets),
        )

    def _default_policy(self) -> AuditRemediationPolicy:
        return AuditRemediationPolicy.default()

    @property
    def policy(self) -> AuditRemediationPolicy:
        """Deprecated name of ``remediation_policy``."""
        warnings.warn(
            "AuditRemediator.policy is deprecated and will be removed in the next release; use remediation_policy",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.remediation_policy

    def _grant_iot(self, role: iam.Role) -> None:
        """Reads always; a change only if the policy takes that action."""
        # ListAuditFindings has no resource-level permission (Service Authorization Reference).
        role.add_to_policy(
            iam.PolicyStatement(sid="ReadAuditFindings", actions=["iot:ListAuditFindings"], resources=["*"])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadPolicyAtFault", actions=["iot:GetPolicyVersion"], resources=[self._iot_arn("policy")]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadCertificates", actions=["iot:DescribeCertificate"], resources=[self._iot_arn("cert")]
            )
        )
        actions = self.remediation_policy.actions
        if AuditAction.DEACTIVATE_CERTIFICATE in actions:
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="DeactivateCertificates", actions=["iot:UpdateCertificate"], resources=[self._iot_arn("cert")]
                )
            )
        if AuditAction.QUARANTINE_THINGS in actions:
            self._grant_quarantine(role, things=self._iot_arn("thing"))

    def _grant_quarantine(self, role: iam.Role, *, things: str) -> None:
        """Find the things of a shared certificate, read them, move them into the quarantine group."""
        role.add_to_policy(
            iam.PolicyStatement(sid="FindThingsOfCertificate", actions=["iot:ListPrincipalThings"], resources=["*"])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadThings",
                actions=["iot:DescribeThing", "iot:ListThingGroupsForThing", "iot:ListThingPrincipals"],
                resources=[things],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="MoveThingsIntoQuarantine",
                actions=["iot:AddThingToThingGroup"],
                resources=[things, self.quarantine_group.thing_group_arn],
            )
        )

    def _wildcard_reasons(self) -> dict[str, str]:
        """Why each wildcard resource the policy needs is acceptable (cdk-nag AwsSolutions-IAM5)."""
        reasons = {
            "AwsSolutions-IAM5[Resource::*]": (
                "ListAuditFindings and ListPrincipalThings support no resource-level permissions, and X-Ray "
                "PutTraceSegments/PutTelemetryRecords (active tracing) neither; all are read or trace-only."
            ),
            f"AwsSolutions-IAM5[Resource::{SCOPED_IOT}:cert/*]": (
                "Findings name certificates only known at run time; reads (and deactivation if the policy asks) "
                "are limited to this account and region."
            ),
            f"AwsSolutions-IAM5[Resource::{SCOPED_IOT}:policy/*]": (
                "Policy findings name policy versions only known at run time; GetPolicyVersion is read-only and "
                "limited to this account and region."
            ),
        }
        if AuditAction.QUARANTINE_THINGS in self.remediation_policy.actions:
            reasons[f"AwsSolutions-IAM5[Resource::{SCOPED_IOT}:thing/*]"] = (
                "Things sharing a certificate are only known at run time; they are read and moved into the "
                "quarantine group only, within this account and region."
            )
        return reasons

    # metric(), metric_dry_run_decisions(), metric_breaker_trips() and metric_rejected_records() are
    # those of ResponseFunction (namespace DeviceDefender/AuditRemediation, dimension service).

    def metric_findings_remediated(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Findings acted on (a certificate deactivated or things quarantined)."""
        return self.metric("FindingsRemediated", **options)

    def metric_held_actions(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Actions held by the open breaker (their records return to the queue)."""
        return self.metric("HeldActions", **options)


__all__ = ["MAX_POLICY_JSON_CHARACTERS", "AuditRemediator"]
