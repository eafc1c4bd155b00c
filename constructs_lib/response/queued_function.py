"""The plumbing both remediation constructs share: an SQS queue subscribed to a topic (with a
message-body filter), its dead-letter queue, the function and its own role and log group, the
event source, the state table, and the alarms. Resources are created directly in the caller's
scope, so construct ids (and so logical ids) are those of the caller."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar, cast

import jsii
from aws_cdk import Duration, Names, RemovalPolicy
from aws_cdk import aws_backup as backup
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib._jsii import as_role, service_principal, sns_alarm_action
from constructs_lib._log_groups import encrypted_log_group
from constructs_lib._metrics import service_metric  # re-exported: the one metric helper of the pack
from constructs_lib._queues import dead_letter_queue
from constructs_lib.alerts.alert_topic import AnyAlertTopic, warn_if_alarms_cannot_publish
from constructs_lib.lambda_packaging import ARCHITECTURE, RUNTIME, function_code, handler_path, powertools_layer
from constructs_lib.nag import acknowledge, acknowledge_compliance

FUNCTION_TIMEOUT = Duration.seconds(60)
MAX_RECEIVE_COUNT = 5
MAX_ACTIONS_PER_HOUR_LIMIT = 10_000
# Lambda allows 4 KB of environment in all; the policy gets most of it.
MAX_POLICY_JSON_CHARACTERS = 3000
T = TypeVar("T")
_INSIDE = (str(Path(__file__).parents[1]), str(Path(jsii.__file__).parent))


@dataclass(frozen=True)
class QueuedFunction:
    queue: sqs.Queue
    dead_letter_queue: sqs.Queue
    role: iam.Role
    function: lambda_.Function


def check_sizing(
    *,
    batch_size: int,
    reserved_concurrency: int,
    dry_run: bool,
    problems: list[str],
    max_actions_per_hour: int | None = None,
    limit_argument: str = "max_actions_per_hour",
) -> None:
    """The sizing arguments both response constructs take; ``limit_argument`` is the name the
    caller gave the per-hour limit (a deprecated keyword is named as given)."""
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
    if max_actions_per_hour is not None and (
        isinstance(max_actions_per_hour, bool)
        or not isinstance(max_actions_per_hour, int)
        or not 1 <= max_actions_per_hour <= MAX_ACTIONS_PER_HOUR_LIMIT
    ):
        problems.append(
            f"{limit_argument} {max_actions_per_hour!r} must be an integer from 1 to {MAX_ACTIONS_PER_HOUR_LIMIT}"
        )


class FunctionPolicy(Protocol):
    """What both remediation policies offer: their own problems, and their JSON for the environment."""

    def problems(self) -> list[str]: ...

    def to_json(self) -> str: ...


def check_policy(policy: FunctionPolicy, problems: list[str], *, argument: str = "remediation_policy") -> None:
    """The policy's own problems, and whether its JSON fits in the function's environment."""
    policy_problems = policy.problems()
    problems.extend(f"{argument} {problem}" for problem in policy_problems)
    if not policy_problems and len(policy.to_json()) > MAX_POLICY_JSON_CHARACTERS:
        problems.append(
            f"{argument} is {len(policy.to_json())} characters as JSON; at most {MAX_POLICY_JSON_CHARACTERS} fit "
            "in the function's environment"
        )


def renamed_keyword(
    owner: str, new: tuple[str, T | None], old: tuple[str, T | None], problems: list[str]
) -> tuple[T | None, str]:
    """The value of a keyword renamed in this release, and the name the caller used (messages
    name it). The old name still works, with a ``DeprecationWarning``; both at once is a problem."""
    (new_name, new_value), (old_name, old_value) = new, old
    if old_value is None:
        return new_value, new_name
    if new_value is not None:
        problems.append(f"{new_name} and {old_name} were both given; {old_name} is the deprecated name of {new_name}")
        return new_value, new_name
    warnings.warn(
        f"{owner}: the keyword {old_name} is deprecated and will be removed in the next release; use {new_name}",
        DeprecationWarning,
        stacklevel=_callers_level(),
    )
    return old_value, old_name


def _callers_level() -> int:
    """The ``stacklevel`` of the first frame outside this pack and jsii: the line that called the construct."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_INSIDE):
        frame, level = frame.f_back, level + 1
    return level


def state_table(scope: Construct, id: str = "StateTable") -> dynamodb.Table:
    """Partition key ``id``: idempotency records, breakers, quarantine records and the action log."""
    table = dynamodb.Table(
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
    acknowledge_compliance(
        table,
        {
            "DynamoDBInBackupPlan": (
                "Point-in-time recovery is on: the table can be restored to any second of the last 35 days, and "
                "it is kept when the stack is deleted. For longer retention in AWS Backup, pass "
                "DeviceDefender(backup_plan=True) or add it to your own plan."
            )
        },
        unless=lambda: in_backup_plan(table),
    )
    return table


_BACKED_UP: set[int] = set()  # id() of tables a backup plan of this library selects


def add_to_backup_plan(plan: backup.BackupPlan, selection_id: str, table: dynamodb.ITable) -> None:
    """Select ``table`` in ``plan`` (which withdraws its DynamoDBInBackupPlan acknowledgment)."""
    selection = plan.add_selection(selection_id, resources=[backup.BackupResource.from_dynamo_db_table(table)])
    _BACKED_UP.add(id(table))
    acknowledge(
        selection.node.find_child("Role"),
        {
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup]": (  # noqa: E501
                "The role AWS Backup assumes for this selection (only backup.amazonaws.com can assume it); AWS "
                "maintains the managed backup policy as services gain backup features, and the selection limits "
                "what the plan backs up to the state table."
            )
        },
    )


def in_backup_plan(table: dynamodb.ITable) -> bool:
    return id(table) in _BACKED_UP


def build_queued_function(
    scope: Construct,
    *,
    topic: AnyAlertTopic,
    body_filter: Mapping[str, sns.FilterOrPolicy],
    function_package: str,
    description: str,
    environment: Mapping[str, str],
    batch_size: int,
    reserved_concurrency: int,
    powertools_layer_version: int,
    network: FunctionNetwork | None = None,
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
        network=network,
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
    network: FunctionNetwork | None = None,
) -> tuple[iam.Role, lambda_.Function]:
    """A function of this pack: its own role and log group (no AWS managed policy), arm64, the
    Powertools layer, tracing, a dead-letter queue for asynchronous invocations, and ``network``'s VPC
    (with a security group of its own) when given."""
    log_group = encrypted_log_group(scope, "FunctionLogs")
    role = iam.Role(
        scope, "FunctionRole", assumed_by=service_principal("lambda.amazonaws.com"), description=description
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
        role=as_role(role),
        log_group=log_group,
        reserved_concurrent_executions=reserved_concurrency,
        dead_letter_queue=dead_letter,
        environment=dict(environment),
        vpc=network.vpc if network else None,
        vpc_subnets=network.vpc_subnets if network else None,
        security_groups=_security_groups(scope, network),
    )
    _acknowledge_network(function, role, network)
    return role, function


@dataclass(frozen=True)
class FunctionNetwork:
    """Where a function runs: the ``vpc`` and ``vpc_subnets`` arguments of the constructs."""

    vpc: ec2.IVpc | None = None
    vpc_subnets: ec2.SubnetSelection | None = None

    def problems(self) -> list[str]:
        if self.vpc is None and self.vpc_subnets is not None:
            return ["vpc_subnets was given without vpc; give the VPC the subnets belong to"]
        if self.vpc is not None and not hasattr(self.vpc, "vpc_id"):
            return [f"vpc {self.vpc!r} must be an ec2.IVpc (ec2.Vpc, or ec2.Vpc.from_lookup(...))"]
        return []


def _security_groups(scope: Construct, network: FunctionNetwork | None) -> list[ec2.ISecurityGroup] | None:
    """In a VPC, a security group of the function's own that only lets it call out (to the AWS APIs it
    uses, through NAT or VPC endpoints)."""
    if network is None or network.vpc is None:
        return None
    group = ec2.SecurityGroup(
        scope,
        "FunctionSecurityGroup",
        vpc=network.vpc,
        description="IoT Device Defender function: no inbound, outbound to the AWS APIs it calls",
        allow_all_outbound=True,
    )
    return [cast(ec2.ISecurityGroup, group)]  # jsii: see constructs_lib/_jsii.py


def _acknowledge_network(function: lambda_.Function, role: iam.Role, network: FunctionNetwork | None) -> None:
    if network is not None and network.vpc is not None:
        acknowledge(
            role,
            {
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]": (  # noqa: E501
                    "Added by aws-cdk-lib for a function in a VPC: it lets Lambda create, describe and delete the "
                    "function's network interfaces (and write logs); the EC2 network-interface actions support no "
                    "resource-level scoping that would narrow it."
                )
            },
        )
        return
    acknowledge_compliance(
        function.node.default_child or function,  # the function alone, not its event sources
        {
            "LambdaInsideVPC": (
                "The function reaches only AWS service APIs (AWS IoT, DynamoDB, SNS, SQS, CloudWatch, X-Ray) over "
                "TLS with SigV4 and IAM-scoped credentials; it reaches no private resource. Pass vpc= (and "
                "vpc_subnets=) to run it in your VPC with a security group of its own."
            )
        },
    )


def response_environment(
    *,
    quarantine_group_name: str,
    table: dynamodb.ITable,
    notification_topic: AnyAlertTopic,
    dry_run: bool,
    own: Mapping[str, str],
    service: str,
    namespace: str,
) -> dict[str, str]:
    """The environment both response functions read (README, "Safety switches"), with ``own`` the
    variables only one of them reads (its per-hour limit and its policy)."""
    return {
        "QUARANTINE_GROUP_NAME": quarantine_group_name,
        "STATE_TABLE_NAME": table.table_name,
        "NOTIFY_TOPIC_ARN": notification_topic.topic_arn,
        "DRY_RUN": "true" if dry_run else "false",
        **own,
        "POWERTOOLS_SERVICE_NAME": service,
        "POWERTOOLS_METRICS_NAMESPACE": namespace,
    }


@dataclass(frozen=True)
class ResponseAlarms:
    dead_letter_queue: cloudwatch.Alarm
    errors: cloudwatch.Alarm
    breaker: cloudwatch.Alarm


def add_response_alarms(
    scope: Construct,
    *,
    dead_letter_queue: sqs.IQueue,
    function: lambda_.IFunction,
    breaker_trips: cloudwatch.IMetric,
    notify: AnyAlertTopic,
    descriptions: tuple[str, str, str],
) -> ResponseAlarms:
    """The three alarms of a response construct (dead-letter queue, errors, breaker), each notifying ``notify``."""
    waiting, failed, tripped = descriptions
    dlq_depth = dead_letter_queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1))
    return ResponseAlarms(
        dead_letter_queue=alarm_on_any(scope, "DeadLetterQueueAlarm", waiting, dlq_depth, notify=notify),
        errors=alarm_on_any(
            scope, "ErrorsAlarm", failed, function.metric_errors(period=Duration.minutes(5)), notify=notify
        ),
        breaker=alarm_on_any(scope, "BreakerTrippedAlarm", tripped, breaker_trips, notify=notify),
    )


def alarm_on_any(
    scope: Construct,
    id: str,
    description: str,
    metric: cloudwatch.IMetric,
    *,
    notify: AnyAlertTopic | None = None,
    notify_argument: str = "notification_topic",
) -> cloudwatch.Alarm:
    """Alarm as soon as one datapoint is at least 1; no data is normal. ``notify`` (the argument
    ``notify_argument`` of ``scope``) hears of it."""
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
        if not notify.allow_cloudwatch_alarms():
            warn_if_alarms_cannot_publish(scope, notify_argument, notify)
        alarm.add_alarm_action(sns_alarm_action(notify.topic))
    return alarm


__all__ = [
    "FUNCTION_TIMEOUT",
    "MAX_ACTIONS_PER_HOUR_LIMIT",
    "MAX_POLICY_JSON_CHARACTERS",
    "MAX_RECEIVE_COUNT",
    "FunctionNetwork",
    "FunctionPolicy",
    "QueuedFunction",
    "ResponseAlarms",
    "add_response_alarms",
    "add_to_backup_plan",
    "alarm_on_any",
    "build_function",
    "build_queued_function",
    "check_policy",
    "check_sizing",
    "in_backup_plan",
    "renamed_keyword",
    "response_environment",
    "service_metric",
    "state_table",
]
