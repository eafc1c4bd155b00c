"""Self-hosted violations, quarantine decisions and audit remediations as Security Hub findings."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from constructs_lib._jsii import as_function
from constructs_lib._validation import raise_if_any
from constructs_lib.alerts.alert_topic import AnyAlertTopic, TopicArgument, alert_topic_of
from constructs_lib.lambda_packaging import DEFAULT_POWERTOOLS_LAYER_VERSION
from constructs_lib.nag import acknowledge, acknowledge_inline_policies
from constructs_lib.response.queued_function import alarm_on_any, build_queued_function, check_sizing
from iot_defender_runtime.model.security_finding import NOTICE_SOURCES, SeverityLabel

FUNCTION_PACKAGE = "security_hub_findings"
SERVICE = "security-hub-findings"
METRICS_NAMESPACE = "DeviceDefender/SecurityHub"


def _exists() -> sns.FilterOrPolicy:
    return sns.FilterOrPolicy.filter(sns.SubscriptionFilter.exists_filter())


class SecurityHubFindings(Construct):
    """A queue on the alert topic (violations) and on the notification topic (the response functions'
    messages), its dead-letter queue, and a function that imports each as one ASFF finding into this
    account's Security Hub (``BatchImportFindings``, on this account's default product only).

    Managed Detect and audit findings reach Security Hub without this: turn on AWS IoT Device Defender's
    own integration (README, "Security Hub"), and give this construct only the notification topic.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        notification_topic: TopicArgument | None = None,
        alert_topic: TopicArgument | None = None,
        severity_by_behavior: Mapping[str, SeverityLabel | str] | None = None,
        batch_size: int = 10,
        reserved_concurrency: int = 2,
        powertools_layer_version: int = DEFAULT_POWERTOOLS_LAYER_VERSION,
    ) -> None:
        """
        :param notification_topic: the response functions' topic: quarantine decisions and audit remediations
            become findings; the alarms notify it. Default: none (then ``alert_topic`` is needed).
        :param alert_topic: the topic self-hosted Detect alerts to: each violation becomes a finding, updated
            when it clears or is invalidated. Default: none (give it only with self-hosted Detect: managed
            Detect's violations reach Security Hub through the native integration).
        :param severity_by_behavior: behavior name to severity label, over the mapping by metric (README).
            Default: none.
        :param batch_size: SQS records per invocation, 1 to 10. Default: 10.
        :param reserved_concurrency: concurrent invocations, 1 to 20 (BatchImportFindings allows 10 requests
            a second, bursts of 30). Default: 2.
        :param powertools_layer_version: the Powertools for AWS Lambda (Python) layer version.
        """
        super().__init__(scope, id)
        severities = self._validate(
            notification_topic, alert_topic, severity_by_behavior, batch_size, reserved_concurrency
        )
        sources = self._sources(notification_topic, alert_topic)
        (first_topic, first_filter), *others = sources
        parts = build_queued_function(
            self,
            topic=first_topic,
            body_filter=first_filter,
            function_package=FUNCTION_PACKAGE,
            description="Imports Device Defender violations, quarantine decisions, audit remediations to Security Hub",
            environment={
                "FINDINGS_ACCOUNT_ID": Aws.ACCOUNT_ID,
                "FINDINGS_PARTITION": Aws.PARTITION,
                "SEVERITY_BY_BEHAVIOR": json.dumps(severities, sort_keys=True),
                "POWERTOOLS_SERVICE_NAME": SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
            powertools_layer_version=powertools_layer_version,
        )
        self.queue, self.dead_letter_queue, self.role, self.function = (
            parts.queue,
            parts.dead_letter_queue,
            parts.role,
            parts.function,
        )
        for topic, body_filter in others:
            topic.topic.add_subscription(
                subscriptions.SqsSubscription(
                    self.queue,
                    raw_message_delivery=True,
                    dead_letter_queue=self.dead_letter_queue,
                    filter_policy_with_message_body=dict(body_filter),
                )
            )
        self._grant()
        self._alarm(self.notification_topic)
        acknowledge_inline_policies(self, "the Security Hub findings function")

    def _validate(
        self,
        notification_topic: TopicArgument | None,
        alert_topic: TopicArgument | None,
        severity_by_behavior: Mapping[str, SeverityLabel | str] | None,
        batch_size: int,
        reserved_concurrency: int,
    ) -> dict[str, str]:
        problems: list[str] = []
        self.notification_topic: AnyAlertTopic | None = (
            None if notification_topic is None else alert_topic_of("notification_topic", notification_topic, problems)
        )
        self.alert_topic: AnyAlertTopic | None = (
            None if alert_topic is None else alert_topic_of("alert_topic", alert_topic, problems)
        )
        if notification_topic is None and alert_topic is None:
            problems.append("notification_topic and alert_topic are both None; give at least one topic to import from")
        check_sizing(batch_size=batch_size, reserved_concurrency=reserved_concurrency, dry_run=False, problems=problems)
        severities: dict[str, str] = {}
        allowed = ", ".join(label.value for label in SeverityLabel)
        for name, label in (severity_by_behavior or {}).items():
            value = label.value if isinstance(label, SeverityLabel) else label
            if value not in {item.value for item in SeverityLabel}:
                problems.append(f"severity_by_behavior['{name}'] {label!r} must be one of {allowed}")
            severities[str(name)] = str(value)
        raise_if_any(self, problems)
        return severities

    def _sources(
        self, notification_topic: object, alert_topic: object
    ) -> list[tuple[AnyAlertTopic, dict[str, sns.FilterOrPolicy]]]:
        """Each topic with the messages the function takes from it (SNS message-body filters)."""
        sources: list[tuple[AnyAlertTopic, dict[str, sns.FilterOrPolicy]]] = []
        if self.alert_topic is not None:
            sources.append((self.alert_topic, {"violationEventType": _exists()}))
        if self.notification_topic is not None:
            only_ours = sns.SubscriptionFilter.string_filter(allowlist=sorted(NOTICE_SOURCES))
            sources.append((self.notification_topic, {"source": sns.FilterOrPolicy.filter(only_ours)}))
        return sources

    def _grant(self) -> None:
        """``BatchImportFindings`` on this account's default product only (Security Hub user guide,
        "BatchImportFindings for finding providers": an account imports its own findings there)."""
        stack = Stack.of(self)
        product = f"arn:{Aws.PARTITION}:securityhub:{stack.region}:{stack.account}:product/{stack.account}/default"
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ImportOwnFindings", actions=["securityhub:BatchImportFindings"], resources=[product]
            )
        )
        acknowledge(
            self.role,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions; "
                    "granted by aws-cdk-lib for active tracing."
                )
            },
        )

    def _alarm(self, notify: AnyAlertTopic | None) -> None:
        depth = self.dead_letter_queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1))
        self.dead_letter_queue_alarm = alarm_on_any(
            self,
            "DeadLetterQueueAlarm",
            "Messages the Security Hub findings function could not import are waiting in its DLQ",
            depth,
            notify=notify,
        )
        self.errors_alarm = alarm_on_any(
            self,
            "ErrorsAlarm",
            "The Security Hub findings function failed invocations",
            as_function(self.function).metric_errors(period=Duration.minutes(5)),
            notify=notify,
        )
