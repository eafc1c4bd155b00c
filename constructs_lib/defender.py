"""DeviceDefender: a sound Device Defender setup from a few choices."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TypedDict, cast

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_backup as backup
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from constructs_lib._queues import dead_letter_queue
from constructs_lib._validation import check_name, raise_if_any
from constructs_lib.alerts.alert_topic import AlertTopic, AnyAlertTopic, TopicArgument, alert_topic_of
from constructs_lib.audit.account_audit import AccountAudit, ExistingAccountAudit
from constructs_lib.audit.scheduled_audit import AuditFrequency, DayOfWeek, ScheduledAudit
from constructs_lib.detect.behavior import Behavior
from constructs_lib.detect.security_profile import SecurityProfile
from constructs_lib.detect.self_hosted_detect import SelfHostedDetect
from constructs_lib.fleet.fleet_group import FleetGroup, IFleetGroup
from constructs_lib.fleet.quarantine_group import QuarantineGroup
from constructs_lib.nag import acknowledge
from constructs_lib.org.operations_dashboard import OperationsDashboard
from constructs_lib.org.security_hub_findings import SecurityHubFindings
from constructs_lib.org.security_view_forwarding import SecurityViewForwarding, SecurityViewTarget
from constructs_lib.response.audit_remediator import AuditRemediator
from constructs_lib.response.quarantine_responder import QuarantineResponder
from constructs_lib.response.queued_function import FunctionNetwork, add_to_backup_plan, alarm_on_any
from iot_defender_runtime.model.audit_checks import ALL_AUDIT_CHECKS, AuditCheck
from iot_defender_runtime.model.audit_remediation_policy import AuditRemediationPolicy
from iot_defender_runtime.model.behavior_definition import BehaviorKind
from iot_defender_runtime.model.remediation_policy import RemediationPolicy


class _Network(TypedDict):
    vpc: ec2.IVpc | None
    vpc_subnets: ec2.SubnetSelection | None


class DetectMode(str, Enum):
    """How behaviors are evaluated.

    MANAGED creates an ``AWS::IoT::SecurityProfile``: only for accounts that used Device Defender
    Detect before 2026-08-31 (it is closed to new customers). SELF_HOSTED evaluates the same rule,
    statistical and ML behaviors over the same fleet groups in this library's evaluator
    (``SelfHostedDetect``; with ML behaviors, its window history and daily trainer), in any account. NONE deploys
    everywhere: audit, alerting and the quarantine responder, without Detect.
    """

    MANAGED = "managed"
    SELF_HOSTED = "self-hosted"
    NONE = "none"


class AuditSchedule:
    """When the scheduled audit runs. Build with ``daily()``, ``weekly(day)``, ``biweekly(day)`` or ``monthly(day)``."""

    def __init__(
        self, frequency: AuditFrequency, *, day_of_week: DayOfWeek | None = None, day_of_month: int | str | None = None
    ) -> None:
        self.frequency = frequency
        self.day_of_week = day_of_week
        self.day_of_month = day_of_month

    @staticmethod
    def daily() -> AuditSchedule:
        return AuditSchedule(AuditFrequency.DAILY)

    @staticmethod
    def weekly(day: DayOfWeek) -> AuditSchedule:
        return AuditSchedule(AuditFrequency.WEEKLY, day_of_week=day)

    @staticmethod
    def biweekly(day: DayOfWeek) -> AuditSchedule:
        return AuditSchedule(AuditFrequency.BIWEEKLY, day_of_week=day)

    @staticmethod
    def monthly(day: int | str) -> AuditSchedule:
        return AuditSchedule(AuditFrequency.MONTHLY, day_of_month=day)


class DeviceDefender(Construct):
    """Alert topic, fleet groups, quarantine group and responder, account audit with a schedule and
    an audit remediator, and (with ``DetectMode.MANAGED``) a security profile over the fleet groups.

    Exactly one of ``notification_email`` and ``notification_topic`` says where operators hear
    about quarantines and violations.

    With ``outputs=True`` the stack gets what the operator commands need (README, "Operator's view"
    and "Releasing a thing"), under these output keys:

    - ``QuarantineGroupName``: the quarantine thing group (``QUARANTINE_GROUP_NAME``).
    - ``StateTableName``: the responder's DynamoDB state table, shared with the audit remediator and
      self-hosted Detect (``STATE_TABLE_NAME``).
    - ``NotifyTopicArn``: the topic operators hear on (``NOTIFY_TOPIC_ARN``).
    """

    OUTPUT_KEYS = ("QuarantineGroupName", "StateTableName", "NotifyTopicArn")

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        fleet_groups: Sequence[str | IFleetGroup],
        behaviors: Sequence[Behavior] = (),
        detect_mode: DetectMode = DetectMode.NONE,
        audit_schedule: AuditSchedule | None = None,
        audit_checks: Sequence[AuditCheck] = ALL_AUDIT_CHECKS,
        existing_account_audit: ExistingAccountAudit | None = None,
        notification_email: str | None = None,
        notification_topic: TopicArgument | None = None,
        dry_run: bool = False,
        remediation_policy: RemediationPolicy | None = None,
        max_quarantines_per_hour: int = 50,
        audit_remediation: bool = True,
        audit_remediation_policy: AuditRemediationPolicy | None = None,
        outputs: bool = False,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        backup_plan: bool = False,
        dashboard: bool = False,
        security_view: SecurityViewTarget | None = None,
        security_hub: bool = False,
    ) -> None:
        """
        :param fleet_groups: a list of thing group names to create, or of existing groups to target.
        :param behaviors: Detect behaviors for the fleet. Default: none (needs MANAGED to be used).
        :param detect_mode: MANAGED, SELF_HOSTED or NONE. Default: NONE, which deploys in every account.
        :param audit_schedule: Default: weekly on Monday.
        :param audit_checks: Default: all checks.
        :param existing_account_audit: an account audit configuration made outside this app
            (``AccountAudit.from_account``); none is created then, and its notifications stay as they
            are (point them at ``alert_topic`` for the audit remediator). Default: create one.
        :param dry_run: the responder decides and notifies but changes nothing. Default: false.
        :param remediation_policy: Default: ``RemediationPolicy.default()`` (quarantine on in-alarm).
        :param max_quarantines_per_hour: the blast-radius breaker of the responder and of the audit
            remediator (each one's ``max_actions_per_hour``). Default: 50.
        :param audit_remediation: act on audit findings with an ``AuditRemediator``. Default: true.
        :param audit_remediation_policy: Default: ``AuditRemediationPolicy.default()``.
        :param notification_topic: an ``AlertTopic`` or any ``sns.ITopic``. The responders' alarms notify it:
            on an imported topic the library cannot change the topic policy or the key policy, so they must
            already let ``cloudwatch.amazonaws.com`` publish (a warning says so at synth); give
            ``AlertTopic.from_topic_arn(..., encryption_key=key)`` when the topic has a customer-managed key.
        :param outputs: add the stack outputs ``QuarantineGroupName``, ``StateTableName`` and
            ``NotifyTopicArn`` (one ``DeviceDefender`` per stack can). Default: no outputs.
        :param vpc: run the functions (responder, audit remediator, self-hosted Detect's evaluator) in this VPC,
            each with a security group that allows only outbound traffic; the subnets need a route to the AWS
            APIs (NAT or VPC endpoints). Default: no VPC.
        :param vpc_subnets: which subnets of ``vpc``. Default: its private subnets.
        :param backup_plan: add the state table to an AWS Backup plan (``StateTableBackup``: daily, weekly and
            monthly backups, kept up to 5 years, in a vault of its own). Default: no plan; point-in-time recovery
            (35 days) only.
        :param dashboard: add an ``OperationsDashboard`` (``Dashboard``): violations, quarantines and releases,
            held actions and breaker state, dead-letter queue depths and, with self-hosted Detect, the evaluator's
            iterator age and run time. Default: no dashboard.
        :param security_view: forward the alert topic (violations, audit notifications) and the notification
            topic (quarantine decisions, audit remediations) to the ``CentralSecurityView`` of a central account
            (``SecurityViewForwarding``, ``SecurityView``). With QUEUE delivery, give ``notification_email`` (or an
            ``AlertTopic`` of this app as ``notification_topic``): the topic's policy changes. Default: nothing
            forwarded.
        :param security_hub: import self-hosted violations, quarantine decisions and audit remediations into this
            account's Security Hub as findings (``SecurityHubFindings``, ``SecurityHub``). Managed Detect and audit
            findings reach Security Hub through AWS's own integration (README). Default: false.
        """
        super().__init__(scope, id)
        detect_mode, topic = _validate(
            self,
            fleet_groups=fleet_groups,
            behaviors=behaviors,
            detect_mode=detect_mode,
            notification_email=notification_email,
            notification_topic=notification_topic,
            outputs=outputs,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            backup_plan=backup_plan,
            dashboard=dashboard,
            security_view=security_view,
            security_hub=security_hub,
        )
        network = _Network(vpc=vpc, vpc_subnets=vpc_subnets)
        self._notifications(notification_email, topic)
        self.fleet_groups: list[IFleetGroup] = [
            FleetGroup(self, f"Fleet{index}", thing_group_name=group) if isinstance(group, str) else group
            for index, group in enumerate(fleet_groups)
        ]
        self.quarantine_group = QuarantineGroup(self, "QuarantineGroup")
        self.responder = QuarantineResponder(
            self,
            "Responder",
            quarantine_group=self.quarantine_group,
            alert_topic=self.alert_topic,
            notification_topic=self.notification_topic,
            remediation_policy=remediation_policy,
            dry_run=dry_run,
            max_actions_per_hour=max_quarantines_per_hour,
            **network,
        )
        self._audit(audit_checks, existing_account_audit, audit_schedule or AuditSchedule.weekly(DayOfWeek.MON))
        self.audit_remediator: AuditRemediator | None = None
        if audit_remediation:
            self.audit_remediator = AuditRemediator(
                self,
                "AuditRemediator",
                quarantine_group=self.quarantine_group,
                alert_topic=self.alert_topic,
                notification_topic=self.notification_topic,
                state_table=self.responder.table,
                remediation_policy=audit_remediation_policy,
                dry_run=dry_run,
                max_actions_per_hour=max_quarantines_per_hour,
                **network,
            )
        self._detect(detect_mode, behaviors, network)
        if backup_plan:
            self._backup_plan()
        if outputs:
            self._outputs()
        self._security_integrations(detect_mode, security_view, security_hub)
        self.dashboard: OperationsDashboard | None = None
        if dashboard:
            self._dashboard()

    def _security_integrations(
        self, detect_mode: DetectMode, security_view: SecurityViewTarget | None, security_hub: bool
    ) -> None:
        """The central security view's forwarding and the Security Hub findings, when asked for."""
        self.security_view: SecurityViewForwarding | None = None
        if security_view is not None:
            self.security_view = SecurityViewForwarding(
                self,
                "SecurityView",
                topics=[self.alert_topic, self.notification_topic],
                central_account=security_view.central_account,
                central_region=security_view.central_region,
                delivery=security_view.delivery,
                view_name=security_view.view_name,
            )
        self.security_hub: SecurityHubFindings | None = None
        if security_hub:
            # Managed Detect's violations reach Security Hub through AWS's own integration: not imported twice.
            self.security_hub = SecurityHubFindings(
                self,
                "SecurityHub",
                notification_topic=self.notification_topic,
                alert_topic=self.alert_topic if detect_mode is DetectMode.SELF_HOSTED else None,
            )

    def _dashboard(self) -> None:
        """Every part of this construct an operator watches, and the undelivered notifications when emailed."""
        undelivered = self.undelivered_notifications
        self.dashboard = OperationsDashboard(
            self,
            "Dashboard",
            quarantine_responder=self.responder,
            audit_remediator=self.audit_remediator,
            self_hosted_detect=self.self_hosted_detect,
            security_profile=self.security_profile,
            dead_letter_queues={"Undelivered notifications": undelivered} if undelivered is not None else None,
        )

    def _backup_plan(self) -> None:
        """AWS Backup's daily, weekly and monthly rules (kept up to 5 years) for the state table."""
        self.backup_plan = backup.BackupPlan.daily_weekly_monthly5_year_retention(self, "StateTableBackup")
        add_to_backup_plan(self.backup_plan, "StateTable", self.responder.table)

    def _outputs(self) -> None:
        """At the top of the stack, so that the output keys are the ids (as the reference app has them)."""
        stack = Stack.of(self)
        for key, value, variable in zip(
            self.OUTPUT_KEYS,
            (
                self.quarantine_group.thing_group_name,
                self.responder.table.table_name,
                self.notification_topic.topic_arn,
            ),
            ("QUARANTINE_GROUP_NAME", "STATE_TABLE_NAME", "NOTIFY_TOPIC_ARN"),
            strict=True,
        ):
            CfnOutput(stack, key, value=value, description=f"{variable} for the operator CLIs")

    def _notifications(self, notification_email: str | None, notification_topic: AnyAlertTopic | None) -> None:
        """The alert topic, and where operators hear: the given topic, or a new one emailing them."""
        self.alert_topic = AlertTopic(self, "AlertTopic", display_name="Device Defender alerts")
        self.undelivered_notifications: sqs.IQueue | None = None
        if notification_topic is not None:
            self.notification_topic: AnyAlertTopic = notification_topic
            return
        owned = AlertTopic(self, "NotificationTopic", display_name="Device Defender actions")
        self.notification_topic = owned
        if notification_email is None:
            return
        # Notifications SNS cannot deliver (bounced address, endpoint errors) are kept, not lost.
        undelivered = dead_letter_queue(self, "UndeliveredNotifications")
        self.undelivered_notifications = undelivered
        acknowledge(
            undelivered,
            {
                "Serverless-SQSRedrivePolicy": (
                    "This queue is the dead-letter queue of the notification email subscription; nothing "
                    "consumes it, so it needs no redrive policy of its own."
                ),
                "AwsSolutions-SQS3": "This queue is the dead-letter queue of the notification email subscription.",
            },
        )
        email = subscriptions.EmailSubscription(notification_email, dead_letter_queue=undelivered)
        owned.topic.add_subscription(cast(sns.ITopicSubscription, email))  # jsii: see constructs_lib/_jsii.py
        # The alarm state shows in CloudWatch even while the email cannot be delivered; other subscribers hear it.
        self.undelivered_notifications_alarm = alarm_on_any(
            self,
            "UndeliveredNotificationsAlarm",
            "Notifications SNS could not deliver to the notification email (bounced address or endpoint errors)",
            undelivered.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
            notify=owned,
        )

    def _audit(
        self,
        audit_checks: Sequence[AuditCheck],
        existing_account_audit: ExistingAccountAudit | None,
        schedule: AuditSchedule,
    ) -> None:
        """The account audit (unless one exists outside this app) and its schedule."""
        self.account_audit: AccountAudit | ExistingAccountAudit = existing_account_audit or AccountAudit(
            self, "AccountAudit", checks=audit_checks, alert_topic=self.alert_topic
        )
        self.scheduled_audit = ScheduledAudit(
            self,
            "ScheduledAudit",
            account_audit=self.account_audit,
            frequency=schedule.frequency,
            day_of_week=schedule.day_of_week,
            day_of_month=schedule.day_of_month,
        )

    def _detect(self, detect_mode: DetectMode, behaviors: Sequence[Behavior], network: _Network) -> None:
        """Self-hosted Detect or a managed security profile over the fleet groups, or neither."""
        self.self_hosted_detect: SelfHostedDetect | None = None
        if detect_mode is DetectMode.SELF_HOSTED:
            self.self_hosted_detect = SelfHostedDetect(
                self,
                "SelfHostedDetect",
                behaviors=behaviors,
                alert_topic=self.alert_topic,
                targets=self.fleet_groups,
                state_table=self.responder.table,
                notification_topic=self.notification_topic,
                # learned (ML) behaviors are trained on the window history: on when there are any
                history=any(b.definition.kind is BehaviorKind.ML for b in behaviors),
                **network,
            )
        self.security_profile: SecurityProfile | None = None
        if detect_mode is DetectMode.MANAGED:
            self.security_profile = SecurityProfile(
                self, "SecurityProfile", behaviors=behaviors, targets=self.fleet_groups, alert_topic=self.alert_topic
            )


def _validate(
    construct: DeviceDefender,
    *,
    fleet_groups: Sequence[str | IFleetGroup],
    behaviors: Sequence[Behavior],
    detect_mode: DetectMode,
    notification_email: str | None,
    notification_topic: TopicArgument | None,
    outputs: bool,
    vpc: ec2.IVpc | None,
    vpc_subnets: ec2.SubnetSelection | None,
    backup_plan: bool,
    dashboard: bool,
    security_view: SecurityViewTarget | None,
    security_hub: bool,
) -> tuple[DetectMode, AnyAlertTopic | None]:
    """Every problem at once; the detect mode as a ``DetectMode`` and the notification topic as given."""
    problems: list[str] = []
    _check_fleet_groups(fleet_groups, problems)
    try:
        detect_mode = DetectMode(detect_mode)
    except ValueError:
        problems.append(f"detect_mode '{detect_mode}' is not one of {', '.join(m.value for m in DetectMode)}")
    else:
        if detect_mode in (DetectMode.MANAGED, DetectMode.SELF_HOSTED) and not behaviors:
            problems.append(f"detect_mode {detect_mode.name} needs at least one behavior")
        if detect_mode is DetectMode.NONE and behaviors:
            problems.append(
                f"behaviors were given ({len(behaviors)}) but detect_mode is NONE, so nothing would evaluate "
                "them; choose DetectMode.MANAGED (accounts that had Detect before 2026-08-31), "
                "DetectMode.SELF_HOSTED, or drop them"
            )
    if (notification_email is None) == (notification_topic is None):
        problems.append("give exactly one of notification_email and notification_topic")
    if notification_email is not None and "@" not in notification_email:
        problems.append(f"notification_email '{notification_email}' is not an email address")
    topic = None
    if notification_topic is not None:
        topic = alert_topic_of("notification_topic", notification_topic, problems)
    if outputs:
        _check_outputs_free(construct, problems)
    problems.extend(FunctionNetwork(vpc, vpc_subnets).problems())
    if not isinstance(backup_plan, bool):
        problems.append(f"backup_plan {backup_plan!r} must be True or False")
    for name, flag in (("dashboard", dashboard), ("security_hub", security_hub)):
        if not isinstance(flag, bool):
            problems.append(f"{name} {flag!r} must be True or False")
    if security_view is not None and not isinstance(security_view, SecurityViewTarget):
        problems.append(
            f"security_view {security_view!r} must be a SecurityViewTarget(central_account=..., central_region=..., "
            "delivery=...) or None"
        )
    raise_if_any(construct, problems)
    return detect_mode, topic


def _check_fleet_groups(fleet_groups: Sequence[str | IFleetGroup], problems: list[str]) -> None:
    """A list of names (or groups), each name checked, each problem under its index."""
    if isinstance(fleet_groups, str) or not isinstance(fleet_groups, Sequence):
        problems.append(
            f"fleet_groups {fleet_groups!r} must be a list of thing group names or FleetGroups, e.g. ['sensors']"
        )
        return
    if not fleet_groups:
        problems.append("fleet_groups is empty; give at least one thing group name or FleetGroup")
    for index, group in enumerate(fleet_groups):
        if isinstance(group, str):
            check_name(f"fleet_groups[{index}]", group, problems)
        elif not hasattr(group, "thing_group_arn"):
            problems.append(f"fleet_groups[{index}] {group!r} must be a thing group name or a FleetGroup")


def _check_outputs_free(construct: DeviceDefender, problems: list[str]) -> None:
    """The output keys are ids at the top of the stack: free only once per stack."""
    stack = Stack.of(construct)
    taken = [key for key in DeviceDefender.OUTPUT_KEYS if stack.node.try_find_child(key) is not None]
    if taken:
        problems.append(
            f"outputs True, but the stack already has {', '.join(taken)}; "
            "one DeviceDefender per stack can add its outputs"
        )
