"""The audit remediator: audit-completion notifications in, findings paged and acted on."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_lib._validation import raise_if_any
from constructs_lib.alerts.alert_topic import AlertTopic
from constructs_lib.fleet.quarantine_group import QuarantineGroup
from constructs_lib.lambda_packaging import DEFAULT_POWERTOOLS_LAYER_VERSION
from constructs_lib.nag import acknowledge
from constructs_lib.response.queued_function import (
    alarm_on_any,
    build_queued_function,
    check_sizing,
    service_metric,
)
from constructs_lib.response.queued_function import state_table as new_state_table
from lambdas.model.audit_remediation_policy import AuditAction, AuditRemediationPolicy

METRICS_NAMESPACE = "DeviceDefender/AuditRemediation"
SERVICE = "audit-remediator"
MAX_POLICY_JSON_CHARACTERS = 3000


class AuditRemediator(Construct):
    """Consumes audit-completion notifications from an ``AlertTopic`` (the one ``AccountAudit``
    notifies), pages through ``ListAuditFindings`` for every non-compliant check and applies the
    audit remediation policy: by default a revoked device certificate that is still active is
    deactivated, things sharing a certificate are quarantined, every other check is notified.

    Same guarantees as the quarantine responder: each finding handled once, dry run, a breaker on
    actions per hour, partial batch failures, a dead-letter queue, an action log and notifications.
    Pass the responder's ``table`` to share quarantine records, so one release procedure covers both.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        audit_topic: AlertTopic,
        quarantine_group: QuarantineGroup,
        notification_topic: AlertTopic,
        state_table: dynamodb.ITable | None = None,
        policy: AuditRemediationPolicy | None = None,
        dry_run: bool = False,
        max_actions_per_hour: int = 50,
        batch_size: int = 1,
        reserved_concurrency: int = 1,
        powertools_layer_version: int = DEFAULT_POWERTOOLS_LAYER_VERSION,
    ) -> None:
        """
        :param audit_topic: the topic ``AccountAudit`` sends its notifications to.
        :param state_table: Default: a new table (share ``QuarantineResponder.table`` to share records).
        :param policy: Default: ``AuditRemediationPolicy.default()``.
        :param max_actions_per_hour: the breaker's limit on changes per rolling hour, 1 to 10000. Default: 50.
        :param batch_size: notifications per invocation; each may hold thousands of findings. Default: 1.
        """
        super().__init__(scope, id)
        problems: list[str] = []
        check_sizing(
            batch_size=batch_size, reserved_concurrency=reserved_concurrency, dry_run=dry_run, problems=problems
        )
        if (
            isinstance(max_actions_per_hour, bool)
            or not isinstance(max_actions_per_hour, int)
            or not 1 <= max_actions_per_hour <= 10_000
        ):
            problems.append(f"max_actions_per_hour {max_actions_per_hour!r} must be an integer from 1 to 10000")
        self.policy = policy or AuditRemediationPolicy.default()
        policy_problems = self.policy.problems()
        problems.extend(f"policy {problem}" for problem in policy_problems)
        if not policy_problems and len(self.policy.to_json()) > MAX_POLICY_JSON_CHARACTERS:
            problems.append(
                f"policy is {len(self.policy.to_json())} characters as JSON; at most {MAX_POLICY_JSON_CHARACTERS} fit"
            )
        raise_if_any(self, problems)

        self.quarantine_group = quarantine_group
        self.notification_topic = notification_topic
        self.table: dynamodb.ITable = state_table or new_state_table(self)
        parts = build_queued_function(
            self,
            topic=audit_topic,
            body_filter={
                "taskId": sns.FilterOrPolicy.filter(sns.SubscriptionFilter.exists_filter()),
                "auditDetails": sns.FilterOrPolicy.filter(sns.SubscriptionFilter.exists_filter()),
            },
            function_package="audit_remediation",
            description="Audit remediator: reads audit findings, deactivates or quarantines per policy, notifies",
            environment={
                "QUARANTINE_GROUP_NAME": quarantine_group.thing_group_name,
                "STATE_TABLE_NAME": self.table.table_name,
                "NOTIFY_TOPIC_ARN": notification_topic.topic_arn,
                "DRY_RUN": "true" if dry_run else "false",
                "MAX_ACTIONS_PER_HOUR": str(max_actions_per_hour),
                "AUDIT_REMEDIATION_POLICY": self.policy.to_json(),
                "POWERTOOLS_SERVICE_NAME": SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
            powertools_layer_version=powertools_layer_version,
        )
        self.queue, self.dead_letter_queue, self.function = parts.queue, parts.dead_letter_queue, parts.function
        self._grant(parts.role)
        self.dead_letter_queue_alarm = alarm_on_any(
            self,
            "DeadLetterQueueAlarm",
            "Audit notifications the remediator could not process are waiting in its DLQ",
            self.dead_letter_queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
            notify=notification_topic,
        )
        self.errors_alarm = alarm_on_any(
            self,
            "ErrorsAlarm",
            "The audit remediator failed invocations",
            self.function.metric_errors(),
            notify=notification_topic,
        )
        self.breaker_alarm = alarm_on_any(
            self,
            "BreakerTrippedAlarm",
            "The audit remediator's breaker tripped: actions are held until it resets",
            self.metric("BreakerTrips"),
            notify=notification_topic,
        )

    def metric(self, name: str, *, period: Duration | None = None) -> cloudwatch.Metric:
        """FindingsRemediated, DryRunDecisions, HeldActions, BreakerTrips or RejectedRecords."""
        return service_metric(METRICS_NAMESPACE, SERVICE, name, period)

    def _grant(self, role: iam.Role) -> None:
        stack = Stack.of(self)

        def iot_arn(resource: str, name: str = "*") -> str:
            return stack.format_arn(
                service="iot", resource=resource, resource_name=name, arn_format=ArnFormat.SLASH_RESOURCE_NAME
            )

        # ListAuditFindings has no resource-level permission (Service Authorization Reference).
        role.add_to_policy(
            iam.PolicyStatement(sid="ReadAuditFindings", actions=["iot:ListAuditFindings"], resources=["*"])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadPolicyAtFault", actions=["iot:GetPolicyVersion"], resources=[iot_arn("policy")]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadCertificates", actions=["iot:DescribeCertificate"], resources=[iot_arn("cert")]
            )
        )
        actions = self.policy.actions
        if AuditAction.DEACTIVATE_CERTIFICATE in actions:
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="DeactivateCertificates", actions=["iot:UpdateCertificate"], resources=[iot_arn("cert")]
                )
            )
        if AuditAction.QUARANTINE_THINGS in actions:
            role.add_to_policy(
                iam.PolicyStatement(sid="FindThingsOfCertificate", actions=["iot:ListPrincipalThings"], resources=["*"])
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="ReadThings",
                    actions=["iot:DescribeThing", "iot:ListThingGroupsForThing", "iot:ListThingPrincipals"],
                    resources=[iot_arn("thing")],
                )
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="MoveThingsIntoQuarantine",
                    actions=["iot:AddThingToThingGroup"],
                    resources=[iot_arn("thing"), self.quarantine_group.thing_group_arn],
                )
            )
        self.table.grant(role, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        self.notification_topic.grant_publish(role)
        scoped = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>"
        reasons = {
            "AwsSolutions-IAM5[Resource::*]": (
                "ListAuditFindings and ListPrincipalThings support no resource-level permissions, and X-Ray "
                "PutTraceSegments/PutTelemetryRecords (active tracing) neither; all are read or trace-only."
            ),
            f"AwsSolutions-IAM5[Resource::{scoped}:cert/*]": (
                "Findings name certificates only known at run time; reads (and deactivation if the policy asks) "
                "are limited to this account and region."
            ),
            f"AwsSolutions-IAM5[Resource::{scoped}:policy/*]": (
                "Policy findings name policy versions only known at run time; GetPolicyVersion is read-only and "
                "limited to this account and region."
            ),
        }
        if AuditAction.QUARANTINE_THINGS in actions:
            reasons[f"AwsSolutions-IAM5[Resource::{scoped}:thing/*]"] = (
                "Things sharing a certificate are only known at run time; they are read and moved into the "
                "quarantine group only, within this account and region."
            )
        acknowledge(role, reasons)
