"""The central security account's end of the security view: one place where the violations, audit
notifications and quarantine decisions of every member account arrive."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import cast

from aws_cdk import Arn, ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib._jsii import service_principal
from constructs_lib._queues import dead_letter_queue
from constructs_lib._validation import may_be_token, raise_if_any
from constructs_lib.nag import acknowledge
from constructs_lib.org._validation import check_account_ids, check_organization_id, check_regions

DEFAULT_VIEW_NAME = "iot-defender-security-view"
EVENT_SOURCE = "iot-device-defender-constructs"
EVENT_DETAIL_TYPE = "IoT Device Defender notification"
QUEUE_RETENTION = Duration.days(14)  # the SQS maximum
DEFAULT_ARCHIVE_RETENTION = Duration.days(365)


class CentralDelivery(str, Enum):
    """How member accounts deliver to the central account (README, "Central security view").

    EVENT_BUS: an EventBridge bus that takes ``PutEvents`` from the member accounts (or the organization):
    rules, fan-out to many consumers, an archive to replay from. QUEUE: an SQS queue the member topics
    deliver to directly (SNS to SQS across accounts): the simplest, no moving part in the member account
    but a topic policy allowance.
    """

    EVENT_BUS = "event-bus"
    QUEUE = "queue"


def view_arn(delivery: CentralDelivery, *, account: str, region: str, name: str = DEFAULT_VIEW_NAME) -> str:
    """The ARN of the central bus or queue, known before it is deployed (its name is fixed), so that member
    stacks can name it in their policies. ``aws`` partition unless ``account``/``region`` are tokens."""
    if delivery is CentralDelivery.EVENT_BUS:
        return f"arn:{Aws.PARTITION}:events:{region}:{account}:event-bus/{name}"
    return f"arn:{Aws.PARTITION}:sqs:{region}:{account}:{name}"


class CentralSecurityView(Construct):
    """In the central account: a bus (``CentralDelivery.EVENT_BUS``, with an archive) or a queue
    (``CentralDelivery.QUEUE``) that only the named member accounts, or the accounts of one organization,
    can deliver to; both end in ``queue`` (customer-managed KMS key, 14 days' retention, a dead-letter
    queue), where a consumer of the central account reads everything.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        member_accounts: Sequence[str] = (),
        organization_id: str | None = None,
        delivery: CentralDelivery = CentralDelivery.EVENT_BUS,
        member_regions: Sequence[str] = (),
        member_topic_arns: Sequence[str] = (),
        view_name: str = DEFAULT_VIEW_NAME,
        archive_retention: Duration = DEFAULT_ARCHIVE_RETENTION,
    ) -> None:
        """
        :param member_accounts: the accounts that may deliver. Default: none (then ``organization_id`` is needed).
        :param organization_id: every account of this organization may deliver (``aws:PrincipalOrgID``,
            ``aws:SourceOrgID``). Default: none (then ``member_accounts`` is needed).
        :param delivery: EVENT_BUS or QUEUE. Default: EVENT_BUS.
        :param member_regions: the Regions the member topics are in (QUEUE: the SNS source ARNs allowed).
            Default: any Region.
        :param member_topic_arns: QUEUE only: the member topics to subscribe the queue to (the subscription is
            made here, by the queue's account; each member topic must first allow it:
            ``SecurityViewForwarding``). Default: none (subscribe later with ``subscribe``).
        :param view_name: the name of the bus or queue, which the members' policies name. Default:
            ``iot-defender-security-view``.
        :param archive_retention: EVENT_BUS only: how long the archive keeps every event. Default: 365 days.
        """
        super().__init__(scope, id)
        self._validate(member_accounts, organization_id, delivery, member_regions, member_topic_arns)
        self.delivery = delivery
        self.member_accounts = tuple(member_accounts)
        self.organization_id = organization_id
        self.member_regions = tuple(member_regions)
        self.encryption_key = kms.Key(
            self, "Key", enable_key_rotation=True, description=f"Encrypts the IoT security view {self.node.path}"
        )
        self.dead_letter_queue = dead_letter_queue(self, "DeadLetterQueue")
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=view_name if delivery is CentralDelivery.QUEUE else None,
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=cast(kms.IKey, self.encryption_key),  # jsii: see constructs_lib/_jsii.py
            enforce_ssl=True,
            retention_period=QUEUE_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=5),
        )
        acknowledge(
            self.dead_letter_queue,
            {
                "Serverless-SQSRedrivePolicy": (
                    "This queue is the dead-letter queue of the security view: what a consumer could not "
                    "process, or EventBridge could not deliver, stays 14 days for inspection and replay."
                )
            },
        )
        self.event_bus: events.EventBus | None = None
        if delivery is CentralDelivery.EVENT_BUS:
            self.event_bus = self._bus(view_name, archive_retention)
        else:
            self._allow_member_topics()
            for index, topic_arn in enumerate(member_topic_arns):
                self.subscribe(f"MemberTopic{index}", topic_arn)

    def _validate(
        self,
        member_accounts: Sequence[str],
        organization_id: str | None,
        delivery: CentralDelivery,
        member_regions: Sequence[str],
        member_topic_arns: Sequence[str],
    ) -> None:
        problems: list[str] = []
        check_account_ids("member_accounts", member_accounts, problems)
        check_organization_id("organization_id", organization_id, problems)
        check_regions("member_regions", member_regions, problems)
        if not member_accounts and organization_id is None:
            problems.append("member_accounts and organization_id are both empty; name the accounts that may deliver")
        if not isinstance(delivery, CentralDelivery):
            problems.append(f"delivery {delivery!r} must be CentralDelivery.EVENT_BUS or CentralDelivery.QUEUE")
        elif member_topic_arns and delivery is not CentralDelivery.QUEUE:
            problems.append("member_topic_arns is for delivery=CentralDelivery.QUEUE; members put events on the bus")
        for index, arn in enumerate(member_topic_arns):
            if not may_be_token(arn) and not arn.startswith("arn:"):
                problems.append(f"member_topic_arns[{index}] {arn!r} must be an SNS topic ARN")
        raise_if_any(self, problems)

    def _members(self) -> list[iam.IPrincipal]:
        """The member accounts, or the organization (``Principal: *`` only with ``aws:PrincipalOrgID``)."""
        if self.organization_id is not None:
            return [cast(iam.IPrincipal, iam.OrganizationPrincipal(self.organization_id))]
        return [cast(iam.IPrincipal, iam.AccountPrincipal(account)) for account in self.member_accounts]

    def _bus(self, name: str, retention: Duration) -> events.EventBus:
        bus = events.EventBus(self, "EventBus", event_bus_name=name)
        # Cross-account PutEvents needs the bus's resource policy (EventBridge user guide, "Permissions for
        # event buses in Amazon EventBridge": https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-perms.html).
        bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="MembersPutEvents",
                principals=self._members(),
                actions=["events:PutEvents"],
                resources=[bus.event_bus_arn],
                conditions={"StringEquals": {"events:source": EVENT_SOURCE}},
            )
        )
        pattern = events.EventPattern(source=[EVENT_SOURCE])
        bus.archive("Archive", event_pattern=pattern, retention=retention, description="Every member event")
        rule_name = f"{name}-to-queue"
        rule = events.Rule(self, "ToQueue", event_bus=bus, event_pattern=pattern, rule_name=rule_name)
        # The rule's ARN as a string: a reference to the rule would make the key depend on the rule, which
        # depends on the queue, which depends on the key.
        rule_arn = Stack.of(self).format_arn(
            service="events",
            resource="rule",
            resource_name=f"{name}/{rule_name}",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        target = targets.SqsQueue(self.queue, dead_letter_queue=self.dead_letter_queue, retry_attempts=185)
        rule.add_target(cast(events.IRuleTarget, target))  # jsii: see constructs_lib/_jsii.py
        self.encryption_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeDeliversToTheQueue",
                principals=[service_principal("events.amazonaws.com")],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],
                conditions={"ArnEquals": {"aws:SourceArn": rule_arn}},
            )
        )
        return bus

    def _source_topics(self) -> list[str]:
        """The SNS topics that may deliver: every topic of each member account in ``member_regions``."""
        regions = self.member_regions or ("*",)
        return [
            f"arn:{Aws.PARTITION}:sns:{region}:{account}:*" for account in self.member_accounts for region in regions
        ]

    def _allow_member_topics(self) -> None:
        """SNS of the member topics may send to the queue and use its key (SNS to an encrypted queue needs
        ``kms:GenerateDataKey`` and ``kms:Decrypt``: Amazon SNS developer guide, "Configure AWS KMS permissions
        for AWS services", https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html)."""
        if self.organization_id is not None:
            conditions: dict[str, object] = {"StringEquals": {"aws:SourceOrgID": self.organization_id}}
        else:
            conditions = {"ArnLike": {"aws:SourceArn": self._source_topics()}}
        for queue in (self.queue, self.dead_letter_queue):  # the dead-letter queue is the subscriptions' too
            queue.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="MemberTopicsSendMessages",
                    principals=[service_principal("sns.amazonaws.com")],
                    actions=["sqs:SendMessage"],
                    resources=[queue.queue_arn],
                    conditions=conditions,
                )
            )
        self.encryption_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="MemberTopicsEncryptMessages",
                principals=[service_principal("sns.amazonaws.com")],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],
                conditions=conditions,
            )
        )

    def subscribe(self, id: str, topic_arn: str) -> sns.CfnSubscription:
        """Subscribe the queue to a member topic (raw delivery: the queue holds the messages as published).
        The subscription lives in this stack and in the topic's Region; the topic must allow it first."""
        if self.delivery is not CentralDelivery.QUEUE:
            raise_if_any((self, id), ["subscribe is for delivery=CentralDelivery.QUEUE"])
        region = None if may_be_token(topic_arn) else Arn.split(topic_arn, ArnFormat.NO_RESOURCE_NAME).region
        subscription = sns.CfnSubscription(
            self,
            id,
            topic_arn=topic_arn,
            protocol="sqs",
            endpoint=self.queue.queue_arn,
            raw_message_delivery=True,
            redrive_policy={"deadLetterTargetArn": self.dead_letter_queue.queue_arn},
            region=region if region and region != Stack.of(self).region else None,
        )
        subscription.apply_removal_policy(RemovalPolicy.DESTROY)
        return subscription

    @property
    def view_arn(self) -> str:
        """What members deliver to: the bus ARN (EVENT_BUS) or the queue ARN (QUEUE)."""
        return self.event_bus.event_bus_arn if self.event_bus is not None else self.queue.queue_arn
