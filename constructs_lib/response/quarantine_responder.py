"""Queue, dead-letter queue, state table, alarms and the quarantine function, wired together."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Names, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib._queues import dead_letter_queue
from constructs_lib._validation import raise_if_any
from constructs_lib.alerts.alert_topic import AlertTopic
from constructs_lib.fleet.quarantine_group import QuarantineGroup
from constructs_lib.lambda_packaging import (
    ARCHITECTURE,
    DEFAULT_POWERTOOLS_LAYER_VERSION,
    RUNTIME,
    function_code,
    handler_path,
    powertools_layer,
)
from constructs_lib.nag import acknowledge
from lambdas.shared.remediation_policy import RemediationAction, RemediationPolicy

METRICS_NAMESPACE = "DeviceDefender/Quarantine"
_FUNCTION_TIMEOUT = Duration.seconds(60)
_MAX_RECEIVE_COUNT = 5
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
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 10:
            problems.append(f"batch_size {batch_size!r} must be an integer from 1 to 10")
        if (
            isinstance(reserved_concurrency, bool)
            or not isinstance(reserved_concurrency, int)
            or not 1 <= reserved_concurrency <= 20
        ):
            problems.append(f"reserved_concurrency {reserved_concurrency!r} must be an integer from 1 to 20")
        if not isinstance(dry_run, bool):
            problems.append(f"dry_run {dry_run!r} must be True or False")
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

        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(_FUNCTION_TIMEOUT.to_seconds() * 6),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=_MAX_RECEIVE_COUNT),
        )
        self.alert_topic.topic.add_subscription(
            subscriptions.SqsSubscription(
                self.queue, raw_message_delivery=True, dead_letter_queue=self.dead_letter_queue
            )
        )
        acknowledge(
            self.dead_letter_queue,
            {
                "Serverless-SQSRedrivePolicy": (
                    "This queue is the dead-letter queue: messages stay 14 days for inspection and replay, "
                    "and the DeadLetterQueueAlarm fires on the first one."
                )
            },
        )

        self.table = dynamodb.Table(
            self,
            "StateTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute="expiresAt",
            removal_policy=RemovalPolicy.RETAIN,
        )

        log_group = logs.LogGroup(self, "FunctionLogs", retention=logs.RetentionDays.ONE_YEAR)
        role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Quarantine responder: registry reads, quarantine moves, records and notifications",
        )
        log_group.grant_write(role)
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler_path("quarantine"),
            code=function_code("quarantine"),
            layers=[powertools_layer(self, "PowertoolsLayer", version=powertools_layer_version)],
            memory_size=256,
            timeout=_FUNCTION_TIMEOUT,
            tracing=lambda_.Tracing.ACTIVE,
            role=role,
            log_group=log_group,
            reserved_concurrent_executions=reserved_concurrency,
            # Direct SNS invocations are asynchronous: after Lambda's retries they land here too.
            dead_letter_queue=self.dead_letter_queue,
            environment={
                "QUARANTINE_GROUP_NAME": quarantine_group.thing_group_name,
                "STATE_TABLE_NAME": self.table.table_name,
                "NOTIFY_TOPIC_ARN": self.notification_topic.topic_arn,
                "DRY_RUN": "true" if dry_run else "false",
                "MAX_QUARANTINES_PER_HOUR": str(max_quarantines_per_hour),
                "REMEDIATION_POLICY": self.remediation_policy.to_json(),
                "POWERTOOLS_SERVICE_NAME": "quarantine-responder",
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
        )
        source = event_sources.SqsEventSource(
            self.queue,
            batch_size=batch_size,
            max_batching_window=Duration.seconds(5),
            report_batch_item_failures=True,
        )
        self.function.add_event_source(source)
        acknowledge(
            self.function.node.find_child(f"SqsEventSource:{Names.node_unique_id(self.queue.node)}"),
            {
                "Serverless-LambdaEventSourceMappingDestination": (
                    "SQS event source mappings take no on-failure destination; failed records return to the "
                    f"queue and after {_MAX_RECEIVE_COUNT} receives move to the dead-letter queue (redrive policy)."
                )
            },
        )
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
        self.dead_letter_queue_alarm = self._alarm_on_any(
            "DeadLetterQueueAlarm",
            "Violations the quarantine responder could not process are waiting in its DLQ",
            self.dead_letter_queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
        )
        self.errors_alarm = self._alarm_on_any(
            "ErrorsAlarm",
            "The quarantine function failed invocations",
            self.function.metric_errors(period=Duration.minutes(5)),
        )
        self.breaker_alarm = self._alarm_on_any(
            "BreakerTrippedAlarm",
            "The quarantine breaker tripped: quarantines are held until it resets or an operator resets it",
            self.metric_breaker_trips(),
        )

    def _alarm_on_any(self, id: str, description: str, metric: cloudwatch.IMetric) -> cloudwatch.Alarm:
        """Alarm as soon as one datapoint is at least 1; no data is normal."""
        return cloudwatch.Alarm(
            self,
            id,
            alarm_description=description,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
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
        """Default period: 5 minutes."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": "quarantine-responder"},
            statistic="Sum",
            period=period or Duration.minutes(5),
        )
