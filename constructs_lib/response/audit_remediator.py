"""The audit remediator: audit-completion notifications in, findings paged and acted on."""

from __future__ import annotations

import warnings

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct
from typing_extensions import Unpack

from constructs_lib._metrics import MetricOptions, service_metric
from constructs_lib._validation import raise_if_any
from constructs_lib.alerts.alert_topic import AlertTopic
from constructs_lib.fleet.quarantine_group import QuarantineGroup
from constructs_lib.lambda_packaging import DEFAULT_POWERTOOLS_LAYER_VERSION
from constructs_lib.nag import acknowledge
from constructs_lib.response.queued_function import (
    MAX_POLICY_JSON_CHARACTERS,
    add_response_alarms,
    build_queued_function,
    check_policy,
    check_sizing,
    renamed_keyword,
    response_environment,
)
from constructs_lib.response.queued_function import state_table as new_state_table
from lambdas.model.audit_remediation_policy import AuditAction, AuditRemediationPolicy

METRICS_NAMESPACE = "DeviceDefender/AuditRemediation"
SERVICE = "audit-remediator"
DEFAULT_MAX_ACTIONS_PER_HOUR = 50
SCOPED_IOT = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>"


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
        quarantine_group: QuarantineGroup,
        alert_topic: AlertTopic | None = None,
        notification_topic: AlertTopic | None = None,
        state_table: dynamodb.ITable | None = None,
        remediation_policy: AuditRemediationPolicy | None = None,
        dry_run: bool = False,
        max_actions_per_hour: int = DEFAULT_MAX_ACTIONS_PER_HOUR,
        batch_size: int = 1,
        reserved_concurrency: int = 1,
        powertools_layer_version: int = DEFAULT_POWERTOOLS_LAYER_VERSION,
        audit_topic: AlertTopic | None = None,
        policy: AuditRemediationPolicy | None = None,
    ) -> None:
        """The same keywords as ``QuarantineResponder``.

        :param quarantine_group: where things sharing a certificate are moved.
        :param alert_topic: the topic ``AccountAudit`` sends its notifications to (its ``alert_topic``),
            which this construct consumes. Default: a new ``AlertTopic``.
        :param notification_topic: where operators hear what was done. Default: a new ``AlertTopic``.
        :param state_table: Default: a new table (share ``QuarantineResponder.table`` to share records).
        :param remediation_policy: Default: ``AuditRemediationPolicy.default()``.
        :param dry_run: decide and notify but change nothing. Default: false (act).
        :param max_actions_per_hour: the breaker's limit on changes (certificate deactivations and
            quarantines) per rolling hour, 1 to 10000. Default: 50.
        :param batch_size: notifications per invocation, 1 to 10; each may hold thousands of findings. Default: 1.
        :param reserved_concurrency: concurrent invocations, 1 to 20. Default: 1.
        :param powertools_layer_version: the Powertools for AWS Lambda (Python) layer version.
        :param audit_topic: deprecated name of ``alert_topic``.
        :param policy: deprecated name of ``remediation_policy``.
        """
        super().__init__(scope, id)
        alert_topic = self._validate(
            alert_topic=alert_topic,
            audit_topic=audit_topic,
            remediation_policy=remediation_policy,
            policy=policy,
            dry_run=dry_run,
            max_actions_per_hour=max_actions_per_hour,
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
        )
        self.alert_topic = alert_topic or AlertTopic(self, "AlertTopic")
        self.notification_topic = notification_topic or AlertTopic(self, "NotificationTopic")
        self.quarantine_group = quarantine_group
        self.dry_run = dry_run
        self.max_actions_per_hour = max_actions_per_hour
        self.table: dynamodb.ITable = state_table or new_state_table(self)
        self._wire(batch_size=batch_size, reserved_concurrency=reserved_concurrency, layer=powertools_layer_version)
        self._grant(self.role)
        self._alarm()
        acknowledge(self.role, self._wildcard_reasons())

    def _validate(
        self,
        *,
        alert_topic: AlertTopic | None,
        audit_topic: AlertTopic | None,
        remediation_policy: AuditRemediationPolicy | None,
        policy: AuditRemediationPolicy | None,
        dry_run: bool,
        max_actions_per_hour: int,
        batch_size: int,
        reserved_concurrency: int,
    ) -> AlertTopic | None:
        """Every problem at once; the topic as given under either name."""
        problems: list[str] = []
        owner = "AuditRemediator"
        topic, _ = renamed_keyword(owner, ("alert_topic", alert_topic), ("audit_topic", audit_topic), problems)
        chosen, policy_argument = renamed_keyword(
            owner, ("remediation_policy", remediation_policy), ("policy", policy), problems
        )
        check_sizing(
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
            dry_run=dry_run,
            problems=problems,
            max_actions_per_hour=max_actions_per_hour,
        )
        self.remediation_policy = chosen or AuditRemediationPolicy.default()
        check_policy(self.remediation_policy, problems, argument=policy_argument)
        raise_if_any(self, problems)
        return topic

    @property
    def policy(self) -> AuditRemediationPolicy:
        """Deprecated name of ``remediation_policy``."""
        warnings.warn(
            "AuditRemediator.policy is deprecated and will be removed in the next release; use remediation_policy",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.remediation_policy

    def _wire(self, *, batch_size: int, reserved_concurrency: int, layer: int) -> None:
        """The queue on the alert topic (audit notifications only), its DLQ and the function."""
        parts = build_queued_function(
            self,
            topic=self.alert_topic,
            body_filter={
                "taskId": sns.FilterOrPolicy.filter(sns.SubscriptionFilter.exists_filter()),
                "auditDetails": sns.FilterOrPolicy.filter(sns.SubscriptionFilter.exists_filter()),
            },
            function_package="audit_remediation",
            description="Audit remediator: reads audit findings, deactivates or quarantines per policy, notifies",
            environment=response_environment(
                quarantine_group_name=self.quarantine_group.thing_group_name,
                table=self.table,
                notification_topic=self.notification_topic,
                dry_run=self.dry_run,
                own={
                    "MAX_ACTIONS_PER_HOUR": str(self.max_actions_per_hour),
                    "AUDIT_REMEDIATION_POLICY": self.remediation_policy.to_json(),
                },
                service=SERVICE,
                namespace=METRICS_NAMESPACE,
            ),
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
            powertools_layer_version=layer,
        )
        self.queue, self.dead_letter_queue = parts.queue, parts.dead_letter_queue
        self.role, self.function = parts.role, parts.function

    def _grant(self, role: iam.Role) -> None:
        """Reads always; a change only if the policy takes that action; the table and the notifications."""
        stack = Stack.of(self)

        def iot_arn(resource: str) -> str:
            return stack.format_arn(
                service="iot", resource=resource, resource_name="*", arn_format=ArnFormat.SLASH_RESOURCE_NAME
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
        actions = self.remediation_policy.actions
        if AuditAction.DEACTIVATE_CERTIFICATE in actions:
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="DeactivateCertificates", actions=["iot:UpdateCertificate"], resources=[iot_arn("cert")]
                )
            )
        if AuditAction.QUARANTINE_THINGS in actions:
            self._grant_quarantine(role, things=iot_arn("thing"))
        self.table.grant(role, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        self.notification_topic.grant_publish(role)

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

    def _alarm(self) -> None:
        alarms = add_response_alarms(
            self,
            dead_letter_queue=self.dead_letter_queue,
            function=self.function,
            breaker_trips=self.metric_breaker_trips(),
            notify=self.notification_topic,
            descriptions=(
                "Audit notifications the remediator could not process are waiting in its DLQ",
                "The audit remediator failed invocations",
                "The audit remediator's breaker tripped: actions are held until it resets",
            ),
        )
        self.dead_letter_queue_alarm, self.errors_alarm = alarms.dead_letter_queue, alarms.errors
        self.breaker_alarm = alarms.breaker

    def metric(self, name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Any metric the function publishes (namespace ``DeviceDefender/AuditRemediation``, dimension
        ``service``); default: the Sum over 5 minutes. The ``metric_*()`` methods name each one."""
        return service_metric(METRICS_NAMESPACE, SERVICE, name, options)

    def metric_findings_remediated(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Findings acted on (a certificate deactivated or things quarantined)."""
        return self.metric("FindingsRemediated", **options)

    def metric_dry_run_decisions(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Findings that would have been acted on but for dry run."""
        return self.metric("DryRunDecisions", **options)

    def metric_held_actions(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Actions held by the open breaker (their records return to the queue)."""
        return self.metric("HeldActions", **options)

    def metric_breaker_trips(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Times the breaker tripped."""
        return self.metric("BreakerTrips", **options)

    def metric_rejected_records(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Records that were not audit notifications (they go to the DLQ after retries)."""
        return self.metric("RejectedRecords", **options)


__all__ = ["MAX_POLICY_JSON_CHARACTERS", "AuditRemediator"]
