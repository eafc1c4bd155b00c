"""What the two response constructs (``QuarantineResponder``, ``AuditRemediator``) have in common:
one argument grammar and its validation, the attributes, the queued function and its environment,
the grants on the state table and the notification topic, the alarms, and the metrics both
functions publish. Each construct keeps only what differs: its keywords and their deprecated
names, its policy, its IoT grants and their cdk-nag reasons, and its own metrics."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct
from typing_extensions import Unpack

from constructs_lib._jsii import as_function
from constructs_lib._metrics import MetricOptions, service_metric
from constructs_lib._validation import raise_if_any
from constructs_lib.alerts.alert_topic import AlertTopic, AnyAlertTopic, TopicArgument, alert_topic_of
from constructs_lib.fleet.quarantine_group import QuarantineGroup
from constructs_lib.nag import acknowledge, acknowledge_inline_policies
from constructs_lib.response.queued_function import (
    FunctionNetwork,
    FunctionPolicy,
    add_response_alarms,
    build_queued_function,
    check_policy,
    check_sizing,
    renamed_keyword,
    response_environment,
)
from constructs_lib.response.queued_function import state_table as new_state_table

DEFAULT_MAX_ACTIONS_PER_HOUR = 50
# IoT resources of this account and region, as cdk-nag names them in its findings.
SCOPED_IOT = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>"
T = TypeVar("T")


@dataclass(frozen=True)
class Keyword(Generic[T]):
    """A keyword as the caller gave it: under ``name``, or under ``old_name`` (its deprecated name,
    if it has one); ``default`` where neither was given."""

    name: str
    value: T | None
    old_name: str = ""
    old_value: T | None = None
    default: T | None = None


class ResponseFunction(Construct):
    """An SQS queue on an alert topic, its dead-letter queue, a function that applies a remediation
    policy (with a state table, dry run and a breaker on actions per hour), alarms and metrics.

    Subclasses name their service, metrics namespace, function package, message filter,
    environment variables and alarm descriptions, and add their IoT grants (``_grant_iot``), their
    cdk-nag reasons (``_wildcard_reasons``) and their default policy (``_default_policy``).
    """

    METRICS_NAMESPACE: ClassVar[str]
    SERVICE: ClassVar[str]
    _OWNER: ClassVar[str]  # the construct's name in warnings
    _FUNCTION_PACKAGE: ClassVar[str]
    _FUNCTION_DESCRIPTION: ClassVar[str]
    _BODY_KEYS: ClassVar[tuple[str, ...]]  # the queue takes only messages whose body has these keys
    _LIMIT_AND_POLICY_VARIABLES: ClassVar[tuple[str, str]]
    _ALARM_DESCRIPTIONS: ClassVar[tuple[str, str, str]]  # dead-letter queue, errors, breaker

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        quarantine_group: QuarantineGroup,
        alert_topic: Keyword[TopicArgument],
        notification_topic: TopicArgument | None,
        state_table: dynamodb.ITable | None,
        remediation_policy: Keyword[FunctionPolicy],
        dry_run: bool,
        max_actions_per_hour: Keyword[int],
        batch_size: int,
        reserved_concurrency: int,
        powertools_layer_version: int,
        network: FunctionNetwork,
    ) -> None:
        """The keywords of the subclass, the renamed ones as ``Keyword``; every problem is raised at once."""
        super().__init__(scope, id)
        topic, notify, limit = self._validate(
            alert_topic,
            notification_topic,
            remediation_policy,
            max_actions_per_hour,
            dry_run=dry_run,
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
            network=network,
        )
        self.alert_topic: AnyAlertTopic = topic or AlertTopic(self, "AlertTopic")
        self.notification_topic: AnyAlertTopic = notify or AlertTopic(self, "NotificationTopic")
        self.quarantine_group = quarantine_group
        self.dry_run = dry_run
        self.max_actions_per_hour = limit
        self.table: dynamodb.ITable = state_table or new_state_table(self)
        self._wire(
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
            layer=powertools_layer_version,
            network=network,
        )
        self._grant(self.role)
        self._alarm()
        acknowledge(self.role, self._wildcard_reasons())
        acknowledge_inline_policies(self, f"the {self._OWNER} function")

    def _validate(
        self,
        alert_topic: Keyword[TopicArgument],
        notification_topic: TopicArgument | None,
        remediation_policy: Keyword[FunctionPolicy],
        max_actions_per_hour: Keyword[int],
        *,
        dry_run: bool,
        batch_size: int,
        reserved_concurrency: int,
        network: FunctionNetwork,
    ) -> tuple[AnyAlertTopic | None, AnyAlertTopic | None, int]:
        """Every problem at once; the topics and the per-hour limit as given under either name.
        A problem with a keyword given under its deprecated name names it as given."""
        problems: list[str] = []
        given_topic, topic_argument = self._given(alert_topic, problems)
        topic = None if given_topic is None else alert_topic_of(topic_argument, given_topic, problems)
        notify = (
            None if notification_topic is None else alert_topic_of("notification_topic", notification_topic, problems)
        )
        given_limit, limit_argument = self._given(max_actions_per_hour, problems)
        limit = DEFAULT_MAX_ACTIONS_PER_HOUR if given_limit is None else given_limit
        policy, policy_argument = self._given(remediation_policy, problems)
        check_sizing(
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
            dry_run=dry_run,
            problems=problems,
            max_actions_per_hour=limit,
            limit_argument=limit_argument,
        )
        self.remediation_policy = policy or self._default_policy()
        check_policy(self.remediation_policy, problems, argument=policy_argument)
        problems.extend(network.problems())
        raise_if_any(self, problems)
        return topic, notify, limit

    def _given(self, keyword: Keyword[T], problems: list[str]) -> tuple[T | None, str]:
        """The value of a keyword (its default if given under neither name) and the name the caller used."""
        value, argument = renamed_keyword(
            self._OWNER, (keyword.name, keyword.value), (keyword.old_name, keyword.old_value), problems
        )
        return (keyword.default if value is None else value), argument

    @abstractmethod
    def _default_policy(self) -> FunctionPolicy:
        """The construct's default remediation policy (each subclass has its own)."""

    def _wire(self, *, batch_size: int, reserved_concurrency: int, layer: int, network: FunctionNetwork) -> None:
        """The queue on the alert topic (only messages with the ``_BODY_KEYS``), its DLQ and the function."""
        limit_variable, policy_variable = self._LIMIT_AND_POLICY_VARIABLES
        parts = build_queued_function(
            self,
            topic=self.alert_topic,
            body_filter={
                key: sns.FilterOrPolicy.filter(sns.SubscriptionFilter.exists_filter()) for key in self._BODY_KEYS
            },
            function_package=self._FUNCTION_PACKAGE,
            description=self._FUNCTION_DESCRIPTION,
            environment=response_environment(
                quarantine_group_name=self.quarantine_group.thing_group_name,
                table=self.table,
                notification_topic=self.notification_topic,
                dry_run=self.dry_run,
                own={
                    limit_variable: str(self.max_actions_per_hour),
                    policy_variable: self.remediation_policy.to_json(),
                },
                service=self.SERVICE,
                namespace=self.METRICS_NAMESPACE,
            ),
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
            powertools_layer_version=layer,
            network=network,
        )
        self.queue, self.dead_letter_queue = parts.queue, parts.dead_letter_queue
        self.role, self.function = parts.role, parts.function

    def _grant(self, role: iam.Role) -> None:
        """The construct's IoT grants, then the state table and the notifications."""
        self._grant_iot(role)
        # Records, idempotency and the breaker (Powertools idempotency also updates and deletes).
        self.table.grant(role, "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        self.notification_topic.grant_publish(role)

    @abstractmethod
    def _grant_iot(self, role: iam.Role) -> None:
        """The construct's own IoT permissions, no more than its policy's actions need."""

    def _iot_arn(self, resource: str) -> str:
        """Every IoT ``resource`` (``thing``, ``cert``, ...) of this stack's account and region."""
        return Stack.of(self).format_arn(
            service="iot", resource=resource, resource_name="*", arn_format=ArnFormat.SLASH_RESOURCE_NAME
        )

    @abstractmethod
    def _wildcard_reasons(self) -> dict[str, str]:
        """The cdk-nag IAM5 findings of its role, each with the reason a reviewer would accept."""

    def _alarm(self) -> None:
        alarms = add_response_alarms(
            self,
            dead_letter_queue=self.dead_letter_queue,
            function=as_function(self.function),
            breaker_trips=self.metric_breaker_trips(),
            notify=self.notification_topic,
            descriptions=self._ALARM_DESCRIPTIONS,
        )
        self.dead_letter_queue_alarm, self.errors_alarm = alarms.dead_letter_queue, alarms.errors
        self.breaker_alarm = alarms.breaker

    def metric(self, name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Any metric the function publishes (namespace ``METRICS_NAMESPACE``: ``DeviceDefender/Quarantine``
        for the quarantine responder, ``DeviceDefender/AuditRemediation`` for the audit remediator; dimension
        ``service``); default: the Sum over 5 minutes. The ``metric_*()`` methods name each one."""
        return service_metric(self.METRICS_NAMESPACE, self.SERVICE, name, options)

    def metric_dry_run_decisions(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Remediations decided but not carried out because of dry run (for the audit remediator:
        findings that would have been acted on but for dry run)."""
        return self.metric("DryRunDecisions", **options)

    def metric_breaker_trips(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Times the blast-radius breaker tripped."""
        return self.metric("BreakerTrips", **options)

    def metric_rejected_records(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Records that were not what the function consumes (violation events for the quarantine
        responder, audit notifications for the audit remediator); they go to the DLQ after retries."""
        return self.metric("RejectedRecords", **options)


__all__ = ["DEFAULT_MAX_ACTIONS_PER_HOUR", "SCOPED_IOT", "Keyword", "ResponseFunction"]
