"""The member account's end of the security view: what its topics carry (violations, audit
notifications, quarantine decisions and audit remediations) reaches the central account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_pipes as pipes
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib._jsii import service_principal
from constructs_lib._queues import dead_letter_queue
from constructs_lib._validation import raise_if_any
from constructs_lib.alerts.alert_topic import AlertTopic, AnyAlertTopic, TopicArgument, alert_topic_of
from constructs_lib.nag import acknowledge
from constructs_lib.org._validation import check_account_id, check_region
from constructs_lib.org.central_security_view import (
    DEFAULT_VIEW_NAME,
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    CentralDelivery,
    view_arn,
)


@dataclass(frozen=True)
class SecurityViewTarget:
    """Where ``DeviceDefender(security_view=...)`` forwards its alert and notification topics: the
    ``CentralSecurityView`` of ``central_account`` (in ``central_region``, default this stack's), by
    ``delivery`` (the central view's choice: EVENT_BUS or QUEUE)."""

    central_account: str
    central_region: str | None = None
    delivery: CentralDelivery = CentralDelivery.EVENT_BUS
    view_name: str = DEFAULT_VIEW_NAME


class SecurityViewForwarding(Construct):
    """Forwards ``topics`` to a ``CentralSecurityView`` of ``central_account``.

    QUEUE: nothing runs here; each topic (an ``AlertTopic`` of this app) lets the central account
    subscribe its view queue, and that one endpoint only (``AlertTopic.allow_queue_subscription``).
    EVENT_BUS: the topics deliver to a queue here (with a dead-letter queue), an EventBridge pipe puts each
    message on a bus of this account as an event (source ``iot-device-defender-constructs``, the message as
    ``detail``), and a rule sends them to the central bus with a role that may only put events there.
    (A pipe targets an event bus of its own account and Region only, hence the local bus: EventBridge user
    guide, "Amazon EventBridge Pipes targets",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-event-target.html.)
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        topics: Sequence[TopicArgument],
        central_account: str,
        central_region: str | None = None,
        delivery: CentralDelivery = CentralDelivery.EVENT_BUS,
        view_name: str = DEFAULT_VIEW_NAME,
    ) -> None:
        """
        :param topics: what to forward: the alert topic (violations, audit notifications) and the
            notification topic (quarantine decisions, audit remediations). QUEUE takes ``AlertTopic``s of
            this app only (their policies change); EVENT_BUS any topic.
        :param central_account: the account of the ``CentralSecurityView``.
        :param central_region: its Region. Default: this stack's Region.
        :param delivery: as the central view's. Default: EVENT_BUS.
        :param view_name: as the central view's. Default: ``iot-defender-security-view``.
        """
        super().__init__(scope, id)
        region = central_region or Stack.of(self).region
        self.topics = self._validate(topics, central_account, central_region, delivery)
        self.central_arn = view_arn(delivery, account=central_account, region=region, name=view_name)
        if delivery is CentralDelivery.QUEUE:
            for topic in self.topics:
                cast(AlertTopic, topic).allow_queue_subscription(central_account, self.central_arn)
            return
        self._forward_to_bus()

    def _validate(
        self,
        topics: Sequence[TopicArgument],
        central_account: str,
        central_region: str | None,
        delivery: CentralDelivery,
    ) -> list[AnyAlertTopic]:
        problems: list[str] = []
        check_account_id("central_account", central_account, problems)
        if central_region is not None:
            check_region("central_region", central_region, problems)
        if not isinstance(delivery, CentralDelivery):
            problems.append(f"delivery {delivery!r} must be CentralDelivery.EVENT_BUS or CentralDelivery.QUEUE")
        if not topics:
            problems.append("topics is empty; give the alert topic and the notification topic to forward")
        found = [alert_topic_of(f"topics[{index}]", topic, problems) for index, topic in enumerate(topics)]
        checked = [topic for topic in found if topic is not None]
        if delivery is CentralDelivery.QUEUE:
            problems.extend(
                f"topics[{index}] {topic.topic_arn if not isinstance(topic, AlertTopic) else ''}must be an AlertTopic "
                "of this app with delivery=CentralDelivery.QUEUE (its policy gains the central subscription)"
                for index, topic in enumerate(found)
                if topic is not None and not isinstance(topic, AlertTopic)
            )
        raise_if_any(self, problems)
        return checked

    def _forward_to_bus(self) -> None:
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,  # SNS delivers without a key grant
            enforce_ssl=True,
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=5),
        )
        for topic in self.topics:
            topic.topic.add_subscription(
                subscriptions.SqsSubscription(
                    self.queue, raw_message_delivery=True, dead_letter_queue=self.dead_letter_queue
                )
            )
        self.event_bus = events.EventBus(self, "EventBus")
        self._pipe()
        rule = events.Rule(
            self, "ToCentralBus", event_bus=self.event_bus, event_pattern=events.EventPattern(source=[EVENT_SOURCE])
        )
        central = events.EventBus.from_event_bus_arn(self, "CentralBus", self.central_arn)
        target = targets.EventBus(central, dead_letter_queue=self.dead_letter_queue)
        rule.add_target(cast(events.IRuleTarget, target))  # jsii: see constructs_lib/_jsii.py
        acknowledge(
            self.dead_letter_queue,
            {
                "Serverless-SQSRedrivePolicy": (
                    "This queue is the dead-letter queue of the forwarding: messages SNS, the pipe or the rule could "
                    "not deliver stay 14 days for inspection and replay."
                )
            },
        )

    def _pipe(self) -> None:
        """SQS to the local bus; the message body (JSON) becomes the event's detail (EventBridge user guide,
        "Amazon EventBridge Pipes input transformation": an SQS body that is valid JSON is parsed,
        https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-input-transformation.html)."""
        role = iam.Role(self, "PipeRole", assumed_by=service_principal("pipes.amazonaws.com"))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadTheQueue",
                actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                resources=[self.queue.queue_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PutOnTheLocalBus", actions=["events:PutEvents"], resources=[self.event_bus.event_bus_arn]
            )
        )
        self.pipe = pipes.CfnPipe(
            self,
            "Pipe",
            role_arn=role.role_arn,
            source=self.queue.queue_arn,
            target=self.event_bus.event_bus_arn,
            source_parameters=pipes.CfnPipe.PipeSourceParametersProperty(
                sqs_queue_parameters=pipes.CfnPipe.PipeSourceSqsQueueParametersProperty(batch_size=10)
            ),
            target_parameters=pipes.CfnPipe.PipeTargetParametersProperty(
                input_template="<$.body>",
                event_bridge_event_bus_parameters=pipes.CfnPipe.PipeTargetEventBridgeEventBusParametersProperty(
                    source=EVENT_SOURCE, detail_type=EVENT_DETAIL_TYPE
                ),
            ),
        )
        self.pipe.node.add_dependency(role)
