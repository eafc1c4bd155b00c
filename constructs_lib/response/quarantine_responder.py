"""Queue, dead-letter queue, state table, alarms and the quarantine function, wired together."""

from __future__ import annotations

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
    MAX_ACTIONS_PER_HOUR_LIMIT,
    MAX_POLICY_JSON_CHARACTERS,
    add_response_alarms,
    build_queued_function,
    check_policy,
    check_sizing,
    renamed_keyword,
    response_environment,
)
from constructs_lib.response.queued_function import state_table as new_state_table
from lambdas.model.remediation_policy import RemediationAction, RemediationPolicy

METRICS_NAMESPACE = "DeviceDefender/Quarantine"
SERVICE = "quarantine-responder"
MAX_QUARANTINES_PER_HOUR_LIMIT = MAX_ACTIONS_PER_HOUR_LIMIT  # the name before the response constructs were aligned
DEFAULT_MAX_ACTIONS_PER_HOUR = 50


class QuarantineResponder(Construct):
    """Consumes Device Defender violations from an ``AlertTopic`` and quarantines things.

    Alerts reach an SQS queue (retried ``5`` times, then the dead-letter queue, which alarms). The
    function applies the remediation policy (default: ``in-alarm`` moves the thing into the
    quarantine group and notifies; other events notify only), records the thing's groups and
    certificate states before any change, acts once per violation event, and stops quarantining
    when more than ``max_actions_per_hour`` would happen in a rolling hour. Things with attribute
    ``quarantine_exempt=true`` or in an exempt group are never touched.

    IAM follows the policy: certificate updates are granted only if a rule deactivates certificates
    or releases, group removals only if a rule releases.
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
        remediation_policy: RemediationPolicy | None = None,
        dry_run: bool = False,
        max_actions_per_hour: int | None = None,
        batch_size: int = 10,
        reserved_concurrency: int = 2,
        powertools_layer_version: int = DEFAULT_POWERTOOLS_LAYER_VERSION,
        existing_alert_topic: AlertTopic | None = None,
        max_quarantines_per_hour: int | None = None,
    ) -> None:
        """The same keywords as ``AuditRemediator``.

        :param quarantine_group: where in-alarm things are moved.
        :param alert_topic: the topic Device Defender alerts to, which this construct consumes.
            Default: a new ``AlertTopic``.
        :param notification_topic: where operators hear what was decided. Default: a new ``AlertTopic``.
        :param state_table: records, idempotency and the breaker (partition key ``id``). Default: a new table.
        :param remediation_policy: which violations lead to which actions. Default:
            ``RemediationPolicy.default()`` (quarantine and notify on in-alarm, notify otherwise).
        :param dry_run: decide and notify but change nothing. Default: false (act).
        :param max_actions_per_hour: the blast-radius breaker's limit on quarantines per rolling hour,
            1 to 10000. Default: 50.
        :param batch_size: SQS records per invocation, 1 to 10. Default: 10.
        :param reserved_concurrency: concurrent invocations, 1 to 20; keeps IoT registry calls under
            their default rate limits during a violation storm. Default: 2.
        :param powertools_layer_version: the Powertools for AWS Lambda (Python) layer version.
        :param existing_alert_topic: deprecated name of ``alert_topic``.
        :param max_quarantines_per_hour: deprecated name of ``max_actions_per_hour``.
        """
        super().__init__(scope, id)
        alert_topic, max_actions_per_hour = self._validate(
            alert_topic=alert_topic,
            existing_alert_topic=existing_alert_topic,
            remediation_policy=remediation_policy,
            dry_run=dry_run,
            max_actions_per_hour=max_actions_per_hour,
            max_quarantines_per_hour=max_quarantines_per_hour,
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
        existing_alert_topic: AlertTopic | None,
        remediation_policy: RemediationPolicy | None,
        dry_run: bool,
        max_actions_per_hour: int | None,
        max_quarantines_per_hour: int | None,
        batch_size: int,
        reserved_concurrency: int,
    ) -> tuple[AlertTopic | None, int]:
        """Every problem at once; the topic and the per-hour limit as given under either name."""
        problems: list[str] = []
        owner = "QuarantineResponder"
        topic, _ = renamed_keyword(
            owner, ("alert_topic", alert_topic), ("existing_alert_topic", existing_alert_topic), problems
        )
        limit, limit_argument = renamed_keyword(
            owner,
            ("max_actions_per_hour", max_actions_per_hour),
            ("max_quarantines_per_hour", max_quarantines_per_hour),
            problems,
        )
        limit = DEFAULT_MAX_ACTIONS_PER_HOUR if limit is None else limit
        check_sizing(
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
            dry_run=dry_run,
            problems=problems,
            max_actions_per_hour=limit,
            limit_argument=limit_argument,
        )
        self.remediation_policy = remediation_policy or RemediationPolicy.default()
        check_policy(self.remediation_policy, problems)
        raise_if_any(self, problems)
        return topic, limit

    def _wire(self, *, batch_size: int, reserved_concurrency: int, layer: int) -> None:
        """The queue on the alert topic (violation events only), its DLQ and the function."""
        parts = build_queued_function(
            self,
            topic=self.alert_topic,
            body_filter={"violationEventType": sns.FilterOrPolicy.filter(sns.SubscriptionFilter.exists_filter())},
            function_package="quarantine",
            description="Quarantine responder: registry reads, quarantine moves, records and notifications",
            environment=response_environment(
                quarantine_group_name=self.quarantine_group.thing_group_name,
                table=self.table,
                notification_topic=self.notification_topic,
                dry_run=self.dry_run,
                own={
                    "MAX_QUARANTINES_PER_HOUR": str(self.max_actions_per_hour),
                    "REMEDIATION_POLICY": self.remediation_policy.to_json(),
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

    def _wildcard_reasons(self) -> dict[str, str]:
        """Why each wildcard resource the policy needs is acceptable (cdk-nag AwsSolutions-IAM5)."""
        scoped = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>"
        reasons = {
            "AwsSolutions-IAM5[Resource::*]": (
                "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions; "
                "granted by aws-cdk-lib for active tracing."
            ),
            f"AwsSolutions-IAM5[Resource::{scoped}:thing/*]": (
                "The function acts on whichever thing a violation names, which is only known at run time; the "
                "resource is limited to things of this account and region, and the only group it moves them "
                "into is the quarantine group."
            ),
            f"AwsSolutions-IAM5[Resource::{scoped}:cert/*]": (
                "The certificates attached to the violating thing are only known at run time; their states are "
                "read (and changed only if a rule deactivates or releases) within this account and region."
            ),
        }
        if RemediationAction.RELEASE in self.remediation_policy.actions:
            reasons[f"AwsSolutions-IAM5[Resource::{scoped}:thinggroup/*]"] = (
                "A release restores the thing to the groups recorded before its quarantine, which can be any "
                "thing group of this account and region."
            )
        return reasons

    def _grant(self, role: iam.Role) -> None:
        stack = Stack.of(self)

        def iot_arn(resource: str) -> str:
            return stack.format_arn(
                service="iot", resource=resource, resource_name="*", arn_format=ArnFormat.SLASH_RESOURCE_NAME
            )

        things, certificates = iot_arn("thing"), iot_arn("cert")
        quarantine_group = self.quarantine_group.thing_group_arn
        actions = self.remediation_policy.actions
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadThings",
                actions=["iot:DescribeThing", "iot:ListThingGroupsForThing", "iot:ListThingPrincipals"],
                resources=[things],
            )
        )
        # Certificate states are recorded before any change, so that a release can restore them.
        role.add_to_policy(
            iam.PolicyStatement(sid="ReadCertificates", actions=["iot:DescribeCertificate"], resources=[certificates])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="MoveThingsIntoQuarantine",
                actions=["iot:AddThingToThingGroup"],
                resources=[things, quarantine_group],
            )
        )
        if actions & {RemediationAction.DEACTIVATE_CERTIFICATES, RemediationAction.RELEASE}:
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="ChangeCertificateStatus", actions=["iot:UpdateCertificate"], resources=[certificates]
                )
            )
        if RemediationAction.RELEASE in actions:
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="ReleaseFromQuarantine",
                    actions=["iot:RemoveThingFromThingGroup"],
                    resources=[things, quarantine_group],
                )
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    sid="RestoreGroupsBefore",
                    actions=["iot:AddThingToThingGroup"],
                    resources=[things, iot_arn("thinggroup")],
                )
            )
        # Records, idempotency and the breaker (Powertools idempotency also updates and deletes).
        self.table.grant(role, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        self.notification_topic.grant_publish(role)

    def _alarm(self) -> None:
        alarms = add_response_alarms(
            self,
            dead_letter_queue=self.dead_letter_queue,
            function=self.function,
            breaker_trips=self.metric_breaker_trips(),
            notify=self.notification_topic,
            descriptions=(
                "Violations the quarantine responder could not process are waiting in its DLQ",
                "The quarantine function failed invocations",
                "The quarantine breaker tripped: quarantines are held until it resets or an operator resets it",
            ),
        )
        self.dead_letter_queue_alarm, self.errors_alarm = alarms.dead_letter_queue, alarms.errors
        self.breaker_alarm = alarms.breaker

    def metric(self, name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Any metric the function publishes (namespace ``DeviceDefender/Quarantine``, dimension
        ``service``); default: the Sum over 5 minutes. The ``metric_*()`` methods name each one."""
        return service_metric(METRICS_NAMESPACE, SERVICE, name, options)

    def metric_quarantines(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Things moved into the quarantine group (published by the function with Powertools Metrics)."""
        return self.metric("Quarantines", **options)

    def metric_dry_run_decisions(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Remediations decided but not carried out because of dry run."""
        return self.metric("DryRunDecisions", **options)

    def metric_releases(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Things released by a policy rule (operator releases run outside the function)."""
        return self.metric("Releases", **options)

    def metric_certificate_deactivations(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Violations whose things had their certificates deactivated."""
        return self.metric("CertificateDeactivations", **options)

    def metric_breaker_trips(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Times the blast-radius breaker tripped."""
        return self.metric("BreakerTrips", **options)

    def metric_held_quarantines(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Quarantines held by the open breaker (their records return to the queue)."""
        return self.metric("HeldQuarantines", **options)

    def metric_rejected_records(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Records that were not violation events (they go to the DLQ after retries)."""
        return self.metric("RejectedRecords", **options)


__all__ = ["MAX_POLICY_JSON_CHARACTERS", "MAX_QUARANTINES_PER_HOUR_LIMIT", "QuarantineResponder"]
