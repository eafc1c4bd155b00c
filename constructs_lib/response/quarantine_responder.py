"""Queue, dead-letter queue, state table, alarms and the quarantine function, wired together."""

from __future__ import annotations

from typing import ClassVar

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct
from typing_extensions import Unpack

from constructs_lib._metrics import MetricOptions
from constructs_lib.alerts.alert_topic import TopicArgument
from constructs_lib.fleet.quarantine_group import QuarantineGroup
from constructs_lib.lambda_packaging import DEFAULT_POWERTOOLS_LAYER_VERSION
from constructs_lib.response.queued_function import (
    MAX_ACTIONS_PER_HOUR_LIMIT,
    MAX_POLICY_JSON_CHARACTERS,
    FunctionNetwork,
)
from constructs_lib.response.response_function import (
    DEFAULT_MAX_ACTIONS_PER_HOUR,
    SCOPED_IOT,
    Keyword,
    ResponseFunction,
)
from iot_defender_runtime.model.remediation_policy import RemediationAction, RemediationPolicy

METRICS_NAMESPACE = "DeviceDefender/Quarantine"
SERVICE = "quarantine-responder"
MAX_QUARANTINES_PER_HOUR_LIMIT = MAX_ACTIONS_PER_HOUR_LIMIT  # the name before the response constructs were aligned


class QuarantineResponder(ResponseFunction):
    """Consumes Device Defender violations from an ``AlertTopic`` and quarantines things.

    Alerts reach an SQS queue (retried ``5`` times, then the dead-letter queue, which alarms). The
    function applies the remediation policy (default: ``in-alarm`` moves the thing into the
    quarantine group and notifies; other events notify only), records the thing's groups and
    certificate states before any change, acts once per violation event, and stops quarantining
    when more than ``max_actions_per_hour`` would happen in a rolling hour. Things with attribute
    ``quarantine_exempt=true`` or in an exempt group are never touched.

    IAM follows the policy: certificate updates are granted only if a rule deactivates certificates
    or releases, group removals only if a rule releases.
    """

    METRICS_NAMESPACE: ClassVar[str] = METRICS_NAMESPACE
    SERVICE: ClassVar[str] = SERVICE
    _OWNER = "QuarantineResponder"
    _FUNCTION_PACKAGE = "quarantine"
    _FUNCTION_DESCRIPTION = "Quarantine responder: registry reads, quarantine moves, records and notifications"
    _BODY_KEYS = ("violationEventType",)
    _LIMIT_AND_POLICY_VARIABLES = ("MAX_QUARANTINES_PER_HOUR", "REMEDIATION_POLICY")
    _ALARM_DESCRIPTIONS = (
        "Violations the quarantine responder could not process are waiting in its DLQ",
        "The quarantine function failed invocations",
        "The quarantine breaker tripped: quarantines are held until it resets or an operator resets it",
    )
    remediation_policy: RemediationPolicy

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        quarantine_group: QuarantineGroup,
        alert_topic: TopicArgument | None = None,
        notification_topic: TopicArgument | None = None,
        state_table: dynamodb.ITable | None = None,
        remediation_policy: RemediationPolicy | None = None,
        dry_run: bool = False,
        max_actions_per_hour: int | None = None,
        batch_size: int = 10,
        reserved_concurrency: int = 2,
        powertools_layer_version: int = DEFAULT_POWERTOOLS_LAYER_VERSION,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        existing_alert_topic: TopicArgument | None = None,
        max_quarantines_per_hour: int | None = None,
    ) -> None:
        """The same keywords as ``AuditRemediator``.

        :param quarantine_group: where in-alarm things are moved.
        :param alert_topic: the topic Device Defender alerts to, which this construct consumes.
            Default: a new ``AlertTopic``.
        :param notification_topic: where operators hear what was decided, and where the alarms notify: an
            ``AlertTopic``, or any ``sns.ITopic`` (an imported topic's policies must already let
            ``cloudwatch.amazonaws.com`` publish; see ``ImportedAlertTopic``). Default: a new ``AlertTopic``.
        :param state_table: records, idempotency and the breaker (partition key ``id``). Default: a new table.
        :param remediation_policy: which violations lead to which actions. Default:
            ``RemediationPolicy.default()`` (quarantine and notify on in-alarm, notify otherwise).
        :param dry_run: decide and notify but change nothing. Default: false (act).
        :param max_actions_per_hour: the blast-radius breaker's limit on quarantines per rolling hour,
            1 to 10000. Default: 50.
        :param batch_size: SQS records per invocation, 1 to 10. Default: 10.
        :param reserved_concurrency: concurrent invocations, 1 to 20; keeps IoT registry calls under
            their default rate limits during a violation storm. Default: 2.
        :param powertools_layer_version: the Powertools for AWS Lambda (Python) layer version.
        :param vpc: run the function in this VPC, with a security group of its own that allows only outbound
            traffic (the subnets need a route to the AWS APIs it calls: NAT or VPC endpoints). Default: no VPC.
        :param vpc_subnets: which subnets of ``vpc``. Default: its private subnets.
        :param existing_alert_topic: deprecated name of ``alert_topic``.
        :param max_quarantines_per_hour: deprecated name of ``max_actions_per_hour``.
        """
        super().__init__(
            scope,
            id,
            quarantine_group=quarantine_group,
            alert_topic=Keyword("alert_topic", alert_topic, "existing_alert_topic", existing_alert_topic),
            notification_topic=notification_topic,
            state_table=state_table,
            remediation_policy=Keyword("remediation_policy", remediation_policy),
            dry_run=dry_run,
            max_actions_per_hour=Keyword(
                "max_actions_per_hour",
                max_actions_per_hour,
                "max_quarantines_per_hour",
                max_quarantines_per_hour,
                default=DEFAULT_MAX_ACTIONS_PER_HOUR,
            ),
            batch_size=batch_size,
            reserved_concurrency=reserved_concurrency,
            powertools_layer_version=powertools_layer_version,
            network=FunctionNetwork(vpc, vpc_subnets),
        )

    def _default_policy(self) -> RemediationPolicy:
        return RemediationPolicy.default()

    def _wildcard_reasons(self) -> dict[str, str]:
        """Why each wildcard resource the policy needs is acceptable (cdk-nag AwsSolutions-IAM5)."""
        reasons = {
            "AwsSolutions-IAM5[Resource::*]": (
                "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions; "
                "granted by aws-cdk-lib for active tracing."
            ),
            f"AwsSolutions-IAM5[Resource::{SCOPED_IOT}:thing/*]": (
                "The function acts on whichever thing a violation names, which is only known at run time; the "
                "resource is limited to things of this account and region, and the only group it moves them "
                "into is the quarantine group."
            ),
            f"AwsSolutions-IAM5[Resource::{SCOPED_IOT}:cert/*]": (
                "The certificates attached to the violating thing are only known at run time; their states are "
                "read (and changed only if a rule deactivates or releases) within this account and region."
            ),
        }
        if RemediationAction.RELEASE in self.remediation_policy.actions:
            reasons[f"AwsSolutions-IAM5[Resource::{SCOPED_IOT}:thinggroup/*]"] = (
                "A release restores the thing to the groups recorded before its quarantine, which can be any "
                "thing group of this account and region."
            )
        return reasons

    def _grant_iot(self, role: iam.Role) -> None:
        """Reads and the quarantine move always; certificate updates and releases only if the policy makes them."""
        things, certificates = self._iot_arn("thing"), self._iot_arn("cert")
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
                    resources=[things, self._iot_arn("thinggroup")],
                )
            )

    # metric(), metric_dry_run_decisions(), metric_breaker_trips() and metric_rejected_records() are
    # those of ResponseFunction (namespace DeviceDefender/Quarantine, dimension service).

    def metric_quarantines(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Things moved into the quarantine group (published by the function with Powertools Metrics)."""
        return self.metric("Quarantines", **options)

    def metric_releases(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Things released by a policy rule (operator releases run outside the function)."""
        return self.metric("Releases", **options)

    def metric_certificate_deactivations(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Violations whose things had their certificates deactivated."""
        return self.metric("CertificateDeactivations", **options)

    def metric_held_quarantines(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Quarantines held by the open breaker (their records return to the queue)."""
        return self.metric("HeldQuarantines", **options)


__all__ = ["MAX_POLICY_JSON_CHARACTERS", "MAX_QUARANTINES_PER_HOUR_LIMIT", "QuarantineResponder"]
