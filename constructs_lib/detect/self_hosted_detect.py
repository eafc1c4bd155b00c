"""Self-hosted Detect: the same behaviors evaluated by this library's evaluator, for accounts that
cannot use managed Detect (closed to new customers since 2026-08-31).

IoT topic rules turn device traffic and lifecycle events into datapoints on a Kinesis stream
(partitioned by client id, so one thing's datapoints stay in order); the evaluator function
(``lambdas/iot_defender_runtime/detect_evaluator``) keeps per-thing alarm state and publishes violation JSON in the
managed Detect shape to the ``AlertTopic``, so the quarantine responder and every subscriber work
unchanged. A schedule invalidates alarms of things that stopped reporting.

Metrics ingested: ``aws:num-messages-sent`` and ``aws:message-byte-size`` (messages on the
telemetry topic filters), ``aws:num-connection-attempts`` (successful connects, from lifecycle
events: failed attempts are not seen), ``aws:num-disconnects`` and ``aws:source-ip-address`` (from
lifecycle events), ``aws:disconnect-duration`` (lifecycle records of every connect and disconnect:
``iot_defender_runtime/model/lifecycle.py``), ``aws:num-authorization-failures`` and
``aws:num-messages-received``
(from AWS IoT logs, through a CloudWatch Logs subscription filter), every device-side metric and
custom metric (from the Device Defender agent's JSON reports on
``$aws/things/<thing>/defender/metrics/json``). Rule, statistical and ML behaviors: ML (learned)
behaviors need the window history (``history=True``), on which a daily trainer (``BehaviorTrainer``)
builds their models (``iot_defender_runtime.evaluation.learned``). TOPIC_FILTER dimensions on the four
metrics that take one: each of their datapoints carries its MQTT topic (the telemetry rules add
``topic()``, IoT log entries have ``topicName``), and ``DETECT_PROFILES`` carries each profile's dimensions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_logs_destinations as log_destinations
from constructs import Construct
from typing_extensions import Unpack

from constructs_lib._jsii import as_function, service_principal
from constructs_lib._metrics import MetricOptions, service_metric
from constructs_lib._queues import dead_letter_queue
from constructs_lib._validation import NAME_PATTERN, check_duration, raise_if_any
from constructs_lib.alerts.alert_topic import AlertTopic, AnyAlertTopic, TopicArgument, alert_topic_of
from constructs_lib.detect.behavior import Behavior
from constructs_lib.detect.behavior_trainer import BehaviorTrainer
from constructs_lib.detect.custom_metric import Dimension
from constructs_lib.detect.security_profile import SecurityProfileTarget
from constructs_lib.detect.window_history import WindowHistory, WindowHistoryOptions, window_history_problems
from constructs_lib.fleet.fleet_group import IFleetGroup
from constructs_lib.lambda_packaging import (
    DEFAULT_POWERTOOLS_LAYER_VERSION,
)
from constructs_lib.nag import acknowledge, acknowledge_inline_policies
from constructs_lib.response.queued_function import FunctionNetwork, alarm_on_any, build_function
from constructs_lib.response.queued_function import state_table as new_state_table
from iot_defender_runtime.model.behavior_definition import BehaviorKind
from iot_defender_runtime.model.detect_profiles import (
    ProfileDocument,
    TargetsDocument,
    self_hosted_problem,
    write_profiles,
)
from iot_defender_runtime.model.lifecycle import LIFECYCLE_FIELDS, LIFECYCLE_KIND, LIFECYCLE_TOPIC
from iot_defender_runtime.model.metric_catalog import MetricSource
from iot_defender_runtime.model.remediation_policy import PolicyError
from iot_defender_runtime.model.self_hosted_metrics import (
    AUTHORIZATION_FAILURES_METRIC,
    CLOUD_METRICS,
    DEVICE_METRICS,
    DISCONNECT_DURATION_METRIC,
    LIFECYCLE_METRICS,
    MESSAGE_SIZE_METRIC,
    MESSAGES_RECEIVED_METRIC,
    SUPPORTED_METRICS,
    TELEMETRY_METRIC,
)
from iot_defender_runtime.model.topic_filter import dimension_problems

AGENT_REPORT_TOPIC = "$aws/things/+/defender/metrics/json"
IOT_LOG_GROUP = "AWSIotLogsV2"
METRICS_NAMESPACE = "DeviceDefender/SelfHostedDetect"
SERVICE = "detect-evaluator"
DEFAULT_EVALUATOR_CONCURRENCY = 10
_IOT_LOG_PATTERNS = {
    AUTHORIZATION_FAILURES_METRIC: logs.FilterPattern.string_value("$.reason", "=", "AUTHORIZATION_FAILURE"),
    MESSAGES_RECEIVED_METRIC: logs.FilterPattern.all(
        logs.FilterPattern.string_value("$.eventType", "=", "Publish-Out"),
        logs.FilterPattern.string_value("$.status", "=", "Success"),
    ),
}


@dataclass(frozen=True)
class DetectProfile:
    """One self-hosted profile: what a security profile would be under managed Detect.

    :param name: ``securityProfileName`` of its violations; 1 to 128 of ``[a-zA-Z0-9:_-]``.
    :param behaviors: rule and statistical behaviors on the ingested metrics.
    :param targets: thing groups (with their child groups) and ``SecurityProfileTarget``s. Default: every client.
    """

    name: str
    behaviors: Sequence[Behavior]
    targets: Sequence[IFleetGroup | SecurityProfileTarget] = ()


class SelfHostedDetect(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        alert_topic: TopicArgument,
        notification_topic: TopicArgument | None = None,
        behaviors: Sequence[Behavior] = (),
        profile_name: str = "self-hosted",
        targets: Sequence[IFleetGroup | SecurityProfileTarget] = (),
        profiles: Sequence[DetectProfile] = (),
        telemetry_topic_filters: Sequence[str] = ("#",),
        agent_report_topic: str = AGENT_REPORT_TOPIC,
        agent_report_thing_level: int = 3,
        iot_log_group_name: str = IOT_LOG_GROUP,
        state_table: dynamodb.ITable | None = None,
        silence: Duration | None = None,
        clock_skew: Duration | None = None,
        max_batching_window: Duration | None = None,
        reserved_concurrency: int = DEFAULT_EVALUATOR_CONCURRENCY,
        max_sweep_segments: int = 1,
        powertools_layer_version: int = DEFAULT_POWERTOOLS_LAYER_VERSION,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        history: bool | WindowHistoryOptions = False,
    ) -> None:
        """
        Give one profile with ``behaviors`` (and ``profile_name``, ``targets``), or several with ``profiles``:
        they share the stream, the evaluator and the state table.

        :param alert_topic: where violations are published: an ``AlertTopic`` or any ``sns.ITopic`` (the
            evaluator gets ``sns:Publish``, and the key's actions when the key is known: pass
            ``AlertTopic.from_topic_arn(..., encryption_key=key)`` for a topic encrypted with a customer-managed key).
        :param notification_topic: where the dead-letter queue and errors alarms notify operators: an ``AlertTopic``
            or any ``sns.ITopic`` (an imported one must already let ``cloudwatch.amazonaws.com`` publish; synth
            warns). ``DeviceDefender`` passes its notification topic. Default: a new ``AlertTopic``
            (``NotificationTopic``) to subscribe operators to.

        :param behaviors: rule and statistical behaviors on the ingested metrics (see the module docstring).
        :param profile_name: ``securityProfileName`` of the violations. Default: self-hosted.
        :param targets: what is watched, as a security profile's targets: thing groups (with their child groups),
            ``SecurityProfileTarget.all_registered_things()`` and so on. The evaluator looks up each reporting
            thing's groups (cached 5 minutes). Default: every client that reports.
        :param profiles: several profiles instead of ``behaviors``, ``profile_name`` and ``targets``.
        :param telemetry_topic_filters: MQTT filters whose messages count as messages sent. Default: all (#).
        :param agent_report_topic: where Device Defender agents publish JSON metrics reports. Default:
            ``$aws/things/+/defender/metrics/json``; point agents at a topic of your own if that
            reserved topic is not routed to rules in your account.
        :param agent_report_thing_level: which level of that topic names the thing (``topic(n)``). Default: 3.
        :param iot_log_group_name: the log group AWS IoT logs to, read for ``aws:num-authorization-failures``
            (AWS IoT logging v2 at ERROR or more verbose) and ``aws:num-messages-received`` behaviors (INFO) only.
            The group must exist and have a free subscription filter slot (two per group). Default: AWSIotLogsV2.
        :param state_table: Default: a new table.
        :param silence: how long a thing in alarm may report nothing before ``alarm-invalidated``. Default: 2 days,
            as Device Defender invalidates the alarms of a device that stops reporting metrics for two days.
        :param clock_skew: how far datapoint times may be off: datapoints stamped up to this far in the future are
            kept, and the sweep judges a quiet thing's window only this long after its end (later datapoints for it
            are late). Raise it when AWS IoT logs reach the stream late. Default: 1 minute; 1 second to 15 minutes.
        :param max_batching_window: how long the evaluator waits to fill a batch. Longer means fewer state writes
            (one per thing per batch) and later alarms. Default: 30 seconds; at most 5 minutes.
        :param reserved_concurrency: concurrent evaluator invocations, 2 to 1000: one per stream shard and one
            for the sweep. The on-demand stream starts with 4 shards and adds more as traffic grows; a shard
            whose invocation is throttled waits and is retried within the event source's limits (records up to an
            hour old, then the dead-letter queue), so raise it with the shard count. Default: 10.
        :param max_sweep_segments: how many parallel runs the 5-minute sweep may be spread over, 1 to 1000 and
            less than ``reserved_concurrency``. Each sweep takes one segment per 20,000 items of the state table
            (``DescribeTable`` ``ItemCount``), up to this many: a coordinator run invokes the function
            asynchronously once per segment (it gets ``lambda:InvokeFunction`` on itself alone), so each run scans
            at most about 20,000 things, well inside the 2-minute timeout (see "Scaling and cost" in the README).
            Raise it with the fleet: 50 for 1,000,000 things, with ``reserved_concurrency`` at least the stream's
            shards plus this. Default: 1, one run sweeps the whole table (fleets up to about 20,000 things).
        :param vpc: run the evaluator in this VPC, with a security group of its own that allows only outbound
            traffic (the subnets need a route to the AWS APIs it calls: NAT or VPC endpoints). Default: no VPC.
        :param vpc_subnets: which subnets of ``vpc``. Default: its private subnets.
        :param history: record every window the evaluator closes (thing, profile, behavior, metric, window, value,
            verdict) as Parquet in an encrypted S3 bucket, with a Glue table and an Athena workgroup over it
            (``WindowHistory``, available as ``.history``): ``True``, or ``WindowHistoryOptions(retention=...,
            buffer_interval=..., query_scan_limit=...)``. The evaluator gets ``firehose:PutRecordBatch`` on its
            stream; rows Firehose does not take are counted (``metric_history_rows_dropped``), never retried by
            failing the batch. Default: off (no history resources).
        """
        super().__init__(scope, id)
        chosen = list(profiles) or [DetectProfile(profile_name, behaviors, targets)]
        silence = Duration.days(2) if silence is None else silence
        skew = Duration.minutes(1) if clock_skew is None else clock_skew
        batching = Duration.seconds(30) if max_batching_window is None else max_batching_window
        problems = _profiles_problems(chosen, several=bool(profiles), mixed=bool(profiles and (behaviors or targets)))
        topic = alert_topic_of("alert_topic", alert_topic, problems)
        notify = None
        if notification_topic is not None:
            notify = alert_topic_of("notification_topic", notification_topic, problems)
        problems += _settings_problems(silence, skew, batching, iot_log_group_name, telemetry_topic_filters)
        network = FunctionNetwork(vpc, vpc_subnets)
        problems += network.problems() + _concurrency_problems(reserved_concurrency)
        problems += _sweep_segments_problems(max_sweep_segments, reserved_concurrency)
        problems += window_history_problems(history)
        problems += _learned_problems(chosen, history)
        document = _write_profiles(chosen, problems)
        raise_if_any(self, problems)
        assert topic is not None  # raise_if_any raised otherwise
        self.profiles: tuple[DetectProfile, ...] = tuple(chosen)
        self.behaviors: tuple[Behavior, ...] = tuple(behavior for profile in chosen for behavior in profile.behaviors)

        self._add_stream_and_dead_letter_queue()
        self._add_topic_rules(telemetry_topic_filters, agent_report_topic, agent_report_thing_level)
        self._add_iot_logs_subscription(iot_log_group_name)
        self.table: dynamodb.ITable = state_table or new_state_table(self)
        role = self._add_evaluator(
            topic,
            document,
            silence=silence,
            skew=skew,
            batching=batching,
            powertools_layer_version=powertools_layer_version,
            reserved_concurrency=reserved_concurrency,
            network=network,
            max_sweep_segments=max_sweep_segments,
        )
        self._grant(role, topic)
        self.history: WindowHistory | None = self._add_history(role, history)
        self.notification_topic: AnyAlertTopic = notify or AlertTopic(
            self, "NotificationTopic", display_name="Self-hosted Detect alarms"
        )
        self._add_alarms()
        self.trainer: BehaviorTrainer | None = self._add_trainer(document, powertools_layer_version, network)
        acknowledge_inline_policies(self, "self-hosted Detect (its evaluator function and its topic rules)")

    # Metrics the evaluator publishes (namespace DeviceDefender/SelfHostedDetect, dimension service).
    # Default: the Sum over 5 minutes; every cloudwatch.MetricOptions field may be given as a keyword.

    def metric_transitions(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Alarm state changes (violations, clears, invalidations), also of behaviors whose alerts are suppressed."""
        return self._evaluator_metric("Transitions", options)

    def metric_rejected_records(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Stream records the evaluator could not parse; reported as failures, retried, then dead-lettered."""
        return self._evaluator_metric("RejectedRecords", options)

    def metric_state_writes(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Writes to the state table: one per profile and thing whose state changed, per batch or sweep."""
        return self._evaluator_metric("StateWrites", options)

    def metric_redelivered_datapoints(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Datapoints seen before (the stream delivered them again); counted once."""
        return self._evaluator_metric("RedeliveredDatapoints", options)

    def metric_windows_without_fleet_threshold(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Windows of statistical behaviors closed without a judgement: no fleet percentile was known yet."""
        return self._evaluator_metric("WindowsWithoutFleetThreshold", options)

    def metric_unwatched_things(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Profile and thing pairs of a batch whose profile does not target the thing; not evaluated."""
        return self._evaluator_metric("UnwatchedThings", options)

    def metric_late_datapoints(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Datapoints for a window already judged (older than the clock skew allows); they are dropped."""
        return self._evaluator_metric("LateDatapoints", options)

    def metric_future_datapoints(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Datapoints stamped further in the future than the clock skew allows; they are dropped."""
        return self._evaluator_metric("FutureDatapoints", options)

    def metric_history_rows_dropped(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Window history rows Firehose did not take after retries; logged and dropped, the batch goes on."""
        return self._evaluator_metric("HistoryRowsDropped", options)

    def _evaluator_metric(self, name: str, options: MetricOptions) -> cloudwatch.Metric:
        return service_metric(METRICS_NAMESPACE, SERVICE, name, options)

    # Steps of the constructor, in the order they build (construct ids are public contract)

    def _add_stream_and_dead_letter_queue(self) -> None:
        self.stream = kinesis.Stream(
            self,
            "Datapoints",
            encryption=kinesis.StreamEncryption.MANAGED,
            stream_mode=kinesis.StreamMode.ON_DEMAND,
            retention_period=Duration.hours(24),
        )
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        acknowledge(
            self.dead_letter_queue,
            {
                "Serverless-SQSRedrivePolicy": (
                    "This queue is the failure destination of the evaluator and of the topic rules; messages stay "
                    "14 days for inspection, and the DeadLetterQueueAlarm notifies the notification topic on the "
                    "first one."
                )
            },
        )

    def _add_topic_rules(
        self, telemetry_topic_filters: Sequence[str], agent_report_topic: str, thing_level: int
    ) -> None:
        rule_role = iam.Role(
            self, "TopicRuleRole", assumed_by=service_principal("iot.amazonaws.com"), description="Datapoint rules"
        )
        rule_role.add_to_policy(iam.PolicyStatement(actions=["kinesis:PutRecord"], resources=[self.stream.stream_arn]))
        self.dead_letter_queue.grant_send_messages(rule_role)
        for rule_id, sql, partition_key in _topic_rules(
            self.behaviors, telemetry_topic_filters, agent_report_topic, thing_level
        ):
            self._add_topic_rule(rule_role, rule_id, sql, partition_key)

    def _add_topic_rule(self, rule_role: iam.Role, rule_id: str, sql: str, partition_key: str) -> None:
        """A rule that puts what ``sql`` selects on the stream, and its failures on the dead-letter queue."""
        iot.CfnTopicRule(
            self,
            rule_id,
            topic_rule_payload=iot.CfnTopicRule.TopicRulePayloadProperty(
                sql=sql,
                aws_iot_sql_version="2016-03-23",
                actions=[
                    iot.CfnTopicRule.ActionProperty(
                        kinesis=iot.CfnTopicRule.KinesisActionProperty(
                            role_arn=rule_role.role_arn,
                            stream_name=self.stream.stream_name,
                            partition_key=partition_key,
                        )
                    )
                ],
                error_action=iot.CfnTopicRule.ActionProperty(
                    sqs=iot.CfnTopicRule.SqsActionProperty(
                        queue_url=self.dead_letter_queue.queue_url, role_arn=rule_role.role_arn
                    )
                ),
            ),
        ).node.add_dependency(rule_role.node.find_child("DefaultPolicy"))

    def _add_iot_logs_subscription(self, iot_log_group_name: str) -> None:
        """AWS IoT log entries on the stream, only when a behavior needs a metric that only those logs give."""
        self.iot_logs_subscription: logs.SubscriptionFilter | None = None
        metrics = {b.definition.metric for b in self.behaviors}
        needed = [pattern for metric, pattern in _IOT_LOG_PATTERNS.items() if metric in metrics]
        if needed:
            self.iot_logs_subscription = logs.SubscriptionFilter(
                self,
                "IotLogEntries",
                log_group=logs.LogGroup.from_log_group_name(self, "IotLogs", iot_log_group_name),
                # cast: jsii classes against their interfaces, see constructs_lib/_jsii.py
                destination=cast(logs.ILogSubscriptionDestination, log_destinations.KinesisDestination(self.stream)),
                filter_pattern=needed[0] if len(needed) == 1 else logs.FilterPattern.any(*needed),
            )

    def _add_evaluator(
        self,
        alert_topic: AnyAlertTopic,
        document: str,
        *,
        silence: Duration,
        skew: Duration,
        batching: Duration,
        powertools_layer_version: int,
        reserved_concurrency: int,
        network: FunctionNetwork,
        max_sweep_segments: int,
    ) -> iam.Role:
        """The evaluator, fed by the stream and swept every five minutes; returns its role."""
        role, self.function = build_function(
            self,
            id="Evaluator",
            function_package="detect_evaluator",
            description="Self-hosted Detect evaluator: reads datapoints, keeps alarm state, publishes violations",
            environment={
                "STATE_TABLE_NAME": self.table.table_name,
                "ALERT_TOPIC_ARN": alert_topic.topic_arn,
                "DETECT_PROFILES": document,
                "SILENCE_SECONDS": str(int(silence.to_seconds())),
                "STREAM_ARN": self.stream.stream_arn,  # the sweep reads how far each shard has been counted
                "MAX_CLOCK_SKEW_SECONDS": str(int(skew.to_seconds())),
                "SWEEP_MAX_SEGMENTS": str(max_sweep_segments),
                "POWERTOOLS_SERVICE_NAME": SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
            dead_letter=self.dead_letter_queue,  # the scheduled sweep is invoked asynchronously
            powertools_layer_version=powertools_layer_version,
            memory_size=512,
            timeout=Duration.seconds(120),
            reserved_concurrency=reserved_concurrency,
            network=network,
        )
        self.function.add_event_source(
            event_sources.KinesisEventSource(
                self.stream,
                starting_position=lambda_.StartingPosition.LATEST,
                batch_size=500,
                max_batching_window=batching,
                bisect_batch_on_error=True,
                retry_attempts=3,
                max_record_age=Duration.hours(1),
                report_batch_item_failures=True,
                on_failure=cast(lambda_.IEventSourceDlq, event_sources.SqsDlq(self.dead_letter_queue)),
            )
        )
        events.Rule(
            self,
            "SilenceSweep",
            description="Judges windows of quiet things, invalidates alarms of silent ones, computes fleet percentiles",
            schedule=events.Schedule.rate(Duration.minutes(5)),
            targets=[
                cast(
                    events.IRuleTarget,
                    event_targets.LambdaFunction(
                        as_function(self.function),
                        event=events.RuleTargetInput.from_object({"sweep": True}),
                        dead_letter_queue=self.dead_letter_queue,
                        retry_attempts=2,
                    ),
                )
            ],
        )
        if max_sweep_segments > 1:
            self._allow_sweep_fan_out(role)
        return role

    def _allow_sweep_fan_out(self, role: iam.Role) -> None:
        """The sweep's coordinator invokes this function once per segment and reads the table's size. The
        invoke permission is a policy of its own: in the role's default policy, which the function depends
        on, the function's ARN would make a dependency cycle."""
        self.table.grant(role, "dynamodb:DescribeTable")
        iam.Policy(
            self,
            "SweepFanOutPolicy",
            roles=[cast(iam.IRole, role)],
            statements=[iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])],
        )

    def _add_history(self, role: iam.Role, history: bool | WindowHistoryOptions) -> WindowHistory | None:
        """The window history, when asked for: the evaluator may put record batches on its stream alone."""
        if history is False:
            return None
        options = history if isinstance(history, WindowHistoryOptions) else WindowHistoryOptions()
        window_history = WindowHistory(self, "History", options=options)
        window_history.grant_put_records(role)
        self.function.add_environment("HISTORY_STREAM_NAME", window_history.delivery_stream_name)
        return window_history

    def _grant(self, role: iam.Role, alert_topic: AnyAlertTopic) -> None:
        """The state table (UpdateItem: the violation log), the group membership of reporting things (when a
        profile has targets), the topic."""
        self.table.grant(
            role,
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:Scan",
        )
        if any(profile.targets for profile in self.profiles):
            stack = Stack.of(self)
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["iot:ListThingGroupsForThing"],
                    resources=[stack.format_arn(service="iot", resource="thing", resource_name="*")],
                )
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["iot:DescribeThingGroup"],
                    resources=[stack.format_arn(service="iot", resource="thinggroup", resource_name="*")],
                )
            )
        alert_topic.grant_publish(role)
        acknowledge(
            role,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions; granted "
                    "by aws-cdk-lib for active tracing."
                ),
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thing/*]": (
                    "Read-only ListThingGroupsForThing: the evaluator learns the groups of whichever client reports, "
                    "which is not known at deploy time, to evaluate only the targeted things."
                ),
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thinggroup/*]": (
                    "Read-only DescribeThingGroup of the groups a reporting thing is in, to find their parent groups; "
                    "those groups are not known at deploy time."
                ),
            },
        )

    def _add_trainer(
        self, document: str, powertools_layer_version: int, network: FunctionNetwork
    ) -> BehaviorTrainer | None:
        """The daily trainer of the learned (ML) behaviors, when there are any (history is on: checked)."""
        if self.history is None or not any(b.definition.kind is BehaviorKind.ML for b in self.behaviors):
            return None
        return BehaviorTrainer(
            self,
            "BehaviorTrainer",
            history=self.history,
            table=self.table,
            profiles_document=document,
            dead_letter=self.dead_letter_queue,
            powertools_layer_version=powertools_layer_version,
            notify=self.notification_topic,
            network=network,
        )

    def _add_alarms(self) -> None:
        """Both notify the notification topic."""
        self.dead_letter_queue_alarm = alarm_on_any(
            self,
            "DeadLetterQueueAlarm",
            "Datapoints the evaluator or the topic rules could not process",
            self.dead_letter_queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
            notify=self.notification_topic,
        )
        self.errors_alarm = alarm_on_any(
            self,
            "ErrorsAlarm",
            "The evaluator failed invocations",
            self.function.metric_errors(),
            notify=self.notification_topic,
        )


def _topic_rules(
    behaviors: Sequence[Behavior], telemetry_topic_filters: Sequence[str], agent_report_topic: str, thing_level: int
) -> list[tuple[str, str, str]]:
    """The topic rules the behaviors need, as (construct id, IoT SQL, Kinesis partition key)."""
    rules: list[tuple[str, str, str]] = []
    metrics = {b.definition.metric for b in behaviors}
    if metrics & {TELEMETRY_METRIC, MESSAGE_SIZE_METRIC}:
        # IoT SQL has no payload size: the base64 length and its padding give it exactly (see the evaluator).
        # topic() lets a behavior's TOPIC_FILTER dimension be matched against each message.
        size = (
            "length(encode(*, 'base64')) AS base64Length, endswith(encode(*, 'base64'), '=') AS padded1, "
            "endswith(encode(*, 'base64'), '==') AS padded2, "
            if MESSAGE_SIZE_METRIC in metrics
            else ""
        )
        for index, topic_filter in enumerate(telemetry_topic_filters):
            sql = (
                f"SELECT clientid() AS thingName, 'message' AS kind, topic() AS topic, {size}"
                f"timestamp() AS timestamp FROM '{topic_filter}'"
            )
            rules.append((f"MessagesSent{index}", sql, "${clientid()}"))
    if metrics & set(DEVICE_METRICS) or any(b.spec.source is MetricSource.CUSTOM for b in behaviors):
        # Agent reports go to the stream whole; the evaluator turns each into datapoints.
        sql = f"SELECT *, topic({thing_level}) AS thingName, timestamp() AS receivedAt FROM '{agent_report_topic}'"
        rules.append(("AgentReports", sql, f"${{topic({thing_level})}}"))
    for metric, (topic, value) in LIFECYCLE_METRICS.items():
        if metric in metrics:
            sql = (
                f"SELECT clientId AS thingName, '{metric}' AS metric, {value} AS value, "
                f"timestamp AS timestamp FROM '{topic}'"
            )
            rules.append((metric.removeprefix("aws:").title().replace("-", ""), sql, "${clientId}"))
    if DISCONNECT_DURATION_METRIC in metrics:
        # Every connect and disconnect as a lifecycle record; the evaluator orders them and keeps the state.
        fields = ", ".join(f"{field} AS {field}" for field in LIFECYCLE_FIELDS)
        sql = f"SELECT clientId AS thingName, '{LIFECYCLE_KIND}' AS kind, {fields} FROM '{LIFECYCLE_TOPIC}'"
        rules.append(("DisconnectDuration", sql, "${clientId}"))
    return rules


def _profiles_problems(chosen: Sequence[DetectProfile], *, several: bool, mixed: bool) -> list[str]:
    problems: list[str] = []
    if mixed:
        problems.append("give behaviors (and targets) for one profile, or profiles, not both")
    profile_names = [profile.name for profile in chosen]
    for name in sorted({n for n in profile_names if profile_names.count(n) > 1}):
        problems.append(f"profile name '{name}' is used more than once; names must be unique")
    for profile in chosen:
        where = f"profile '{profile.name}': " if several else ""
        problems.extend(where + problem for problem in _profile_problems(profile, "name" if several else None))
    return problems


# A model is trained on the trailing 14 days, read with a day-wider partition range (the window history's
# ``dt`` is the day Firehose received a row): the history must keep 15 days.
MIN_LEARNED_RETENTION_DAYS = 15


def _learned_problems(chosen: Sequence[DetectProfile], history: object) -> list[str]:
    """ML behaviors are trained on the window history: without it they could never judge, and with less
    than 15 days of it they would be trained on fewer days than the 14 ML Detect takes."""
    learned = [b.name for profile in chosen for b in profile.behaviors if b.definition.kind is BehaviorKind.ML]
    if not learned:
        return []
    if history is False:
        return [
            f"behavior '{name}' is an ML behavior: its model is trained on the window history, so pass "
            "history=True (or WindowHistoryOptions(...)), or use managed Detect"
            for name in learned
        ]
    retention = history.retention if isinstance(history, WindowHistoryOptions) else None
    if isinstance(retention, Duration) and not Token.is_unresolved(retention.to_days()):
        days = retention.to_days()
        if days < MIN_LEARNED_RETENTION_DAYS:
            return [
                f"history retention {days:g} days is too short for ML behaviors ({', '.join(learned)}): their models "
                f"are trained on the trailing 14 days, so keep at least {MIN_LEARNED_RETENTION_DAYS} days"
            ]
    return []


def _concurrency_problems(reserved_concurrency: int) -> list[str]:
    if (
        isinstance(reserved_concurrency, bool)
        or not isinstance(reserved_concurrency, int)
        or not 2 <= reserved_concurrency <= 1000
    ):
        return [
            f"reserved_concurrency {reserved_concurrency!r} must be an integer from 2 to 1000 "
            "(one per stream shard and one for the sweep)"
        ]
    return []


def _sweep_segments_problems(max_sweep_segments: int, reserved_concurrency: int) -> list[str]:
    if (
        isinstance(max_sweep_segments, bool)
        or not isinstance(max_sweep_segments, int)
        or not 1 <= max_sweep_segments <= 1000
    ):
        return [f"max_sweep_segments {max_sweep_segments!r} must be an integer from 1 to 1000"]
    if not _concurrency_problems(reserved_concurrency) and max_sweep_segments >= reserved_concurrency:
        return [
            f"max_sweep_segments {max_sweep_segments} must be less than reserved_concurrency {reserved_concurrency}, "
            "so the stream's shards keep at least one concurrent run while every segment runs"
        ]
    return []


def _settings_problems(
    silence: Duration,
    skew: Duration,
    batching: Duration,
    iot_log_group_name: str,
    telemetry_topic_filters: Sequence[str],
) -> list[str]:
    problems: list[str] = []
    check_duration("silence", silence, problems, example="Duration.days(2)")
    if check_duration("clock_skew", skew, problems, example="Duration.minutes(1)") and (
        not skew.is_unresolved() and not 1 <= skew.to_seconds() <= 900
    ):
        problems.append(f"clock_skew {skew.to_seconds()} seconds must be 1 to 900 seconds")
    if check_duration("max_batching_window", batching, problems, example="Duration.seconds(30)") and (
        not batching.is_unresolved() and not 0 <= batching.to_seconds() <= 300
    ):
        problems.append(f"max_batching_window {batching.to_seconds()} seconds must be 0 to 300 seconds")
    if not isinstance(iot_log_group_name, str) or not re.fullmatch(r"[.\-_/#A-Za-z0-9]{1,512}", iot_log_group_name):
        problems.append(f"iot_log_group_name {iot_log_group_name!r} is not a log group name")
    if not telemetry_topic_filters:
        problems.append("telemetry_topic_filters is empty; give at least one MQTT topic filter")
    for topic_filter in telemetry_topic_filters:
        if not topic_filter or "'" in topic_filter:
            problems.append(f"telemetry_topic_filters entry {topic_filter!r} is not a usable MQTT topic filter")
    return problems


def _profile_problems(profile: DetectProfile, name_argument: str | None) -> list[str]:
    problems: list[str] = []
    if not isinstance(profile.name, str) or not NAME_PATTERN.match(profile.name):
        problems.append(
            f"{name_argument or 'profile_name'} {profile.name!r} must be 1 to 128 characters of [a-zA-Z0-9:_-]"
        )
    if not profile.behaviors:
        problems.append("behaviors is empty; give at least one rule or statistical behavior")
    names = [b.name for b in profile.behaviors]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"behavior name '{name}' is used more than once; names must be unique")
    for behavior in profile.behaviors:
        unsupported = self_hosted_problem(behavior.definition, behavior.spec)
        if unsupported:
            problems.append(f"behavior '{behavior.name}' {unsupported}")
        elif behavior.spec.source is not MetricSource.CUSTOM and behavior.definition.metric not in SUPPORTED_METRICS:
            problems.append(
                f"behavior '{behavior.name}' uses {behavior.definition.metric}, which self-hosted Detect does not "
                f"ingest; it ingests {', '.join(CLOUD_METRICS)}, device-side metrics and custom metrics"
            )
    problems.extend(_dimension_problems(profile))
    return problems


def _dimension(behavior: Behavior) -> Dimension | None:
    """The ``Dimension`` construct a behavior with a ``metricDimension`` depends on."""
    return next((d for d in behavior.dependencies if isinstance(d, Dimension)), None)


def _dimensions(profile: DetectProfile) -> dict[str, tuple[str, ...]]:
    """The topic filters of each dimension the profile's behaviors name (the first of a name wins)."""
    found: dict[str, tuple[str, ...]] = {}
    for behavior in profile.behaviors:
        dimension = _dimension(behavior)
        if dimension is not None:
            found.setdefault(dimension.dimension_name, dimension.topic_filters)
    return found


def _dimension_problems(profile: DetectProfile) -> list[str]:
    """Two dimensions of one name with different filters, and filters the evaluator cannot match."""
    problems: list[str] = []
    chosen = _dimensions(profile)
    for behavior in profile.behaviors:
        dimension = _dimension(behavior)
        if dimension is not None and dimension.topic_filters != chosen[dimension.dimension_name]:
            problems.append(
                f"behavior '{behavior.name}' uses a dimension named '{dimension.dimension_name}' whose topic filters "
                f"{list(dimension.topic_filters)} differ from those of another of that name "
                f"{list(chosen[dimension.dimension_name])}; give each dimension its own name"
            )
    for name, filters in chosen.items():
        if not any(Token.is_unresolved(f) for f in filters):
            problems.extend(dimension_problems(name, filters))
    return problems


def _write_profiles(chosen: Sequence[DetectProfile], problems: list[str]) -> str:
    """``DETECT_PROFILES`` (``iot_defender_runtime/model/detect_profiles.py`` owns its shape); a problem if it
    cannot fit."""
    try:
        return write_profiles([_document(profile) for profile in chosen], unresolved=Token.is_unresolved)
    except PolicyError as error:
        problems.extend(error.problems)
        return ""


def _document(profile: DetectProfile) -> ProfileDocument:
    """The profile as the model's writer takes it: thing groups by name (a token until deploy time)."""
    dimensions = _dimensions(profile)
    if not profile.targets:
        return ProfileDocument(profile.name, profile.behaviors, None, dimensions)
    paths = {path for t in profile.targets if isinstance(t, SecurityProfileTarget) for path in t.paths}
    groups = tuple(t.thing_group_name for t in profile.targets if not isinstance(t, SecurityProfileTarget))
    targets = TargetsDocument(groups, "registered-things" in paths, "unregistered-things" in paths)
    return ProfileDocument(profile.name, profile.behaviors, targets, dimensions)
