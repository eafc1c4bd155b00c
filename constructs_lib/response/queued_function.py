"""The plumbing both remediation constructs share: an SQS queue subscribed to a topic (with a
message-body filter), its dead-letter queue, the function and its own role and log group, the
event source, the state table, and the alarms. Resources are created directly in the caller's
scope, so construct ids (and so logical ids) are those of the caller."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, Names, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib._queues import dead_letter_queue
from constructs_lib.alerts.alert_topic import AlertTopic
from constructs_lib.lambda_packaging import ARCHITECTURE, RUNTIME, function_code, handler_path, powertools_layer
from constructs_lib.nag import acknowledge

FUNCTION_TIMEOUT = Duration.seconds(60)
MAX_RECEIVE_COUNT = 5


@dataclass(frozen=True)
class QueuedFunction:
    queue: sqs.Queue
    dead_letter_queue: sqs.Queue
    role: iam.Role
    function: lambda_.Function


def check_sizing(*, batch_size: int, reserved_concurrency: int, dry_run: bool, problems: list[str]) -> None:
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


def state_table(scope: Construct, id: str = "StateTable") -> dynamodb.Table:
    """Partition key ``id``: idempotency records, breakers, quarantine records and the action log."""
    return dynamodb.Table(
        scope,
        id,
        partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        time_to_live_attribute="expiresAt",
        removal_policy=RemovalPolicy.RETAIN,
    )


def build_queued_function(
    scope: Construct,
    *,
    topic: AlertTopic,
    body_filter: Mapping[str, sns.FilterOrPolicy],
    function_package: str,
    description: str,
    environment: Mapping[str, str],
    batch_size: int,
    reserved_concurrency: int,
    powertools_layer_version: int,
) -> QueuedFunction:
    dlq = dead_letter_queue(scope, "DeadLetterQueue")
    queue = sqs.Queue(
        scope,
        "Queue",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        visibility_timeout=Duration.seconds(FUNCTION_TIMEOUT.to_seconds() * 6),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=MAX_RECEIVE_COUNT),
    )
    # Detect alerts and audit notifications can share a topic: each queue takes only its own kind.
    topic.topic.add_subscription(
        subscriptions.SqsSubscription(
            queue, raw_message_delivery=True, dead_letter_queue=dlq, filter_policy_with_message_body=dict(body_filter)
        )
    )
    acknowledge(
        dlq,
        {
            "Serverless-SQSRedrivePolicy": (
                "This queue is the dead-letter queue: messages stay 14 days for inspection and replay, "
                "and the DeadLetterQueueAlarm fires on the first one."
            )
        },
    )
    role, function = build_function(
        scope,
        function_package=function_package,
        description=description,
        environment=environment,
        dead_letter=dlq,
        reserved_concurrency=reserved_concurrency,
        powertools_layer_version=powertools_layer_version,
    )
    function.add_event_source(
        event_sources.SqsEventSource(
            queue, batch_size=batch_size, max_batching_window=Duration.seconds(5), report_batch_item_failures=True
        )
    )
    acknowledge(
        function.node.find_child(f"SqsEventSource:{Names.node_unique_id(queue.node)}"),
        {
            "Serverless-LambdaEventSourceMappingDestination": (
                "SQS event source mappings take no on-failure destination; failed records return to the "
                f"queue and after {MAX_RECEIVE_COUNT} receives move to the dead-letter queue (redrive policy)."
            )
        },
    )
    return QueuedFunction(queue=queue, dead_letter_queue=dlq, role=role, function=function)


def build_function(
    scope: Construct,
    *,
    function_package: str,
    description: str,
    environment: Mapping[str, str],
    dead_letter: sqs.IQueue,
    powertools_layer_version: int,
    reserved_concurrency: int | None = None,
    memory_size: int = 256,
    timeout: Duration = FUNCTION_TIMEOUT,
    id: str = "Function",
) -> tuple[iam.Role, lambda_.Function]:
    """A function of this pack: its own role and log group (no AWS managed policy), arm64, the
    Powertools layer, tracing, and a dead-letter queue for asynchronous invocations."""
    log_group = logs.LogGroup(scope, "FunctionLogs", retention=logs.RetentionDays.ONE_YEAR)
    role = iam.Role(
        scope, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
    )
    log_group.grant_write(role)
    function = lambda_.Function(
        scope,
        id,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler_path(function_package),
        code=function_code(function_package),
        layers=[powertools_layer(scope, "PowertoolsLayer", version=powertools_layer_version)],
        memory_size=memory_size,
        timeout=timeout,
        tracing=lambda_.Tracing.ACTIVE,
        role=role,
        log_group=log_group,
        reserved_concurrent_executions=reserved_concurrency,
        dead_letter_queue=dead_letter,
        environment=dict(environment),
    )
    return role, function


def alarm_on_any(
    scope: Construct, id: str, description: str, metric: cloudwatch.IMetric, *, notify: AlertTopic | None = None
) -> cloudwatch.Alarm:
    """Alarm as soon as one datapoint is at least 1; no data is normal. ``notify`` hears of it."""
    alarm = cloudwatch.Alarm(
        scope,
        id,
        alarm_description=description,
        metric=metric,
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    if notify is not None:
        notify.allow_cloudwatch_alarms()
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(notify.topic))
    return alarm


def service_metric(namespace: str, service: str, name: str, period: Duration | None) -> cloudwatch.Metric:
    """A metric the function publishes with Powertools Metrics (dimension ``service``). Default period: 5 minutes."""
    return cloudwatch.Metric(
        namespace=namespace,
        metric_name=name,
        dimensions_map={"service": service},
        statistic="Sum",
        period=period or Duration.minutes(5),
    )


__all__ = [
    "FUNCTION_TIMEOUT",
    "MAX_RECEIVE_COUNT",
    "QueuedFunction",
    "alarm_on_any",
    "build_queued_function",
    "check_sizing",
    "service_metric",
    "state_table",
]
