"""Queue, dead-letter queue, state table, alarms and the quarantine function, wired together."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
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
    state_table,
)
from lambdas.model.remediation_policy import RemediationAction, RemediationPolicy

METRICS_NAMESPACE = "DeviceDefender/Quarantine"
SERVICE = "quarantine-responder"
# Lambda allows 4 KB of environment in all; the policy gets most of it.
MAX_POLICY_JSON_CHARACTERS = 3000
MAX_QUARANTINES_PER_HOUR_LIMIT = 10_000


class QuarantineResponder(Construct):
    """Consumes Device Defender violations from an ``AlertTopic`` and quarantines things.

    Alerts reach an SQS queue (retried ``5`` times, then the dead-letter queue, which alarms). The
    function applies the remediation policy (default: ``in-alarm`` moves the thing into the
    quarantine group and notifies; other events notify only), records the thing's groups and
    certificate states before any change, acts once per violation event, and stops quarantining
    when more than ``max_quarantines_per_hour`` would happen in a rolling hour. Things with attribute
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
        existing_alert_topic: AlertTopic | None = None,
        notification_topic: AlertTopic | None = None,
        dry_run: bool = False,
        remediation_policy: RemediationPolicy | None = None,
        max_quarantines_per_hour: int = 50,
        batch_size: int = 10,
        reserved_concurrency: int = 2,
        powertools_layer_version: int = DEFAULT_POWERTOOLS_LAYER_VERSION,
    ) -> None:
        """
        :param quarantine_group: where in-alarm things are moved.
        :param existing_alert_topic: the topic Device Defender alerts to. Default: a new ``AlertTopic``.
        :param notification_topic: where operators hear what was decided. Default: a new ``AlertTopic``.
        :param dry_run: decide and notify but change nothing. Default: false (act).
        :param remediation_policy: which violations lead to which actions. Default:
            ``RemediationPolicy.default()`` (quarantine and notify on in-alarm, notify otherwise).
        :param max_quarantines_per_hour: the blast-radius breaker's limit, 1 to 10000. Default: 50.
        :param batch_size: SQS records per invocation, 1 to 10. Default: 10.
        :param reserved_concurrency: concurrent invocations, 1 to 20; keeps IoT registry calls under
            their default rate limits during a violation storm. Default: 2.
        """
        super().__init__(scope, id)
        problems: list[str] = []
        check_sizing(
            batch_size=batch_size, reserved_concurrency=reserved_concurrency, dry_run=dry_run, problems=problems
        )
        if (
            isinstance(max_quarantines_per_hour, bool)
            or not isinstance(max_quarantines_per_hour, int)
            or not 1 <= max_quarantines_per_hour <= MAX_QUARANTINES_PER_HOUR_LIMIT
        ):
            problems.append(
                f"max_quarantines_per_hour {max_quarantines_per_hour!r} must be an integer from 1 to "
                f"{MAX_QUARANTINES_PER_HOUR_LIMIT}"
            )
        self.remediation_policy = remediation_policy or RemediationPolicy.default()
        policy_problems = self.remediation_policy.problems()
        problems.extend(f"remediation_policy {problem}" for problem in policy_problems)
        if not policy_problems and len(self.remediation_policy.to_json()) > MAX_POLICY_JSON_CHARACTERS:
            problems.append(
                f"remediation_policy is {len(self.remediation_policy.to_json())} characters as JSON; at most "
                f"{MAX_POLICY_JSON_CHARACTERS} fit in the function's environment"
            )
        raise_if_any(self, problems)

        self.alert_topic = existing_alert_topic or AlertTopic(self, "AlertTopic")
        self.notification_topic = notification_topic or AlertTopic(self, "NotificationTopic")
        self.quarantine_group = quarantine_group

        self.table = state_table(self)
        parts = build_queued_function(
            self,
            topic=self.alert_topic,
            body_filter={"violationEventType": sns.FilterOrPolicy.filter(sns.SubscriptionFilter.exists_filter())},
            function_package="quarantine",
            description="Quarantine responder: registry reads, quarantine moves, records and notifications",
            environment={
                "QUARANTINE_GROUP_NAME": quarantine_group.thing_group_name,
                "STATE_TABLE_NAME": self.table.table_name,
                "NOTIFY_TOPIC_ARN": self.notification_topic.topic_arn,
                "DRY_RUN": "true" if dry_run else "false",
                "MAX_QUARANTINES_PER_HOUR": str(max_quarantines_per_hour),
                "REMEDIATION_POLICY": self.remediation_policy.to_json(),
                "POWERTOOLS_SERVICE_NAME": SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
            powertools_layer_version=powertools_layer_version,
        )
        self.queue, self.dead_letter_queue, self.function = parts.queue, parts.dead_letter_queue, parts.function
        role = parts.role
        self._grant_runtime_permissions(role)
        self._add_alarms()
        acknowledge(role, self._wildcard_reasons())

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

    def _grant_runtime_permissions(self, role: iam.Role) -> None:
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

    def _add_alarms(self) -> None:
        self.dead_letter_queue_alarm = alarm_on_any(
            self,
            "DeadLetterQueueAlarm",
            "Violations the quarantine responder could not process are waiting in its DLQ",
            self.dead_letter_queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
            notify=self.notification_topic,
        )
        self.errors_alarm = alarm_on_any(
            self,
            "ErrorsAlarm",
            "The quarantine function failed invocations",
            self.function.metric_errors(period=Duration.minutes(5)),
            notify=self.notification_topic,
        )
        self.breaker_alarm = alarm_on_any(
            self,
            "BreakerTrippedAlarm",
            "The quarantine breaker tripped: quarantines are held until it resets or an operator resets it",
            self.metric_breaker_trips(),
            notify=self.notification_topic,
        )

    def metric_quarantines(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """Things moved into the quarantine group (published by the function with Powertools Metrics)."""
        return self._function_metric("Quarantines", period)

    def metric_dry_run_decisions(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """Remediations decided but not carried out because of dry run."""
        return self._function_metric("DryRunDecisions", period)

    def metric_releases(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """Things released by a policy rule (operator releases run outside the function)."""
        return self._function_metric("Releases", period)

    def metric_certificate_deactivations(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """Violations whose things had their certificates deactivated."""
        return self._function_metric("CertificateDeactivations", period)

    def metric_breaker_trips(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """Times the blast-radius breaker tripped."""
        return self._function_metric("BreakerTrips", period)

    def metric_held_quarantines(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """Quarantines held by the open breaker (their records return to the queue)."""
        return self._function_metric("HeldQuarantines", period)

    def metric_rejected_records(self, *, period: Duration | None = None) -> cloudwatch.Metric:
        """Records that were not violation events (they go to the DLQ after retries)."""
        return self._function_metric("RejectedRecords", period)

    def _function_metric(self, name: str, period: Duration | None) -> cloudwatch.Metric:
        return service_metric(METRICS_NAMESPACE, SERVICE, name, period)
