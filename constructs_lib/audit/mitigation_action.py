"""Device Defender mitigation actions, each with its own least-privilege role."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from constructs import Construct

from constructs_lib._jsii import service_principal
from constructs_lib._validation import check_name, raise_if_any
from constructs_lib.alerts.alert_topic import TopicArgument, alert_topic_of
from constructs_lib.fleet.fleet_group import IFleetGroup
from constructs_lib.nag import acknowledge, acknowledge_inline_policies


class LogLevel(str, Enum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    ERROR = "ERROR"
    WARN = "WARN"
    DISABLED = "DISABLED"


class MitigationAction(Construct):
    """``AWS::IoT::MitigationAction``. Build it with a factory; the role Device Defender assumes
    to run it may do that one thing and nothing else."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        action_name: str | None,
        params: iot.CfnMitigationAction.ActionParamsProperty,
        statements: Sequence[iam.PolicyStatement],
        description: str,
        grant: Callable[[iam.IGrantable], object] | None = None,
    ) -> None:
        super().__init__(scope, id)
        problems: list[str] = []
        check_name("action_name", action_name, problems)
        raise_if_any(self, problems)
        self.role = iam.Role(self, "Role", assumed_by=service_principal("iot.amazonaws.com"), description=description)
        for statement in statements:
            self.role.add_to_policy(statement)
        if grant is not None:
            grant(self.role)
        self.resource = iot.CfnMitigationAction(
            self, "Resource", action_name=action_name, role_arn=self.role.role_arn, action_params=params
        )
        self.resource.node.add_dependency(self.role.node.find_child("DefaultPolicy"))
        self.logging_role: iam.Role | None = None  # enable_iot_logging's role for AWS IoT
        acknowledge_inline_policies(self, "this mitigation action (its role may do that one action only)")

    @property
    def action_name(self) -> str:
        return self.resource.ref

    @property
    def action_arn(self) -> str:
        return self.resource.attr_mitigation_action_arn

    @staticmethod
    def add_things_to_thing_group(
        scope: Construct,
        id: str,
        *,
        groups: Sequence[IFleetGroup],
        override_dynamic_groups: bool = False,
        action_name: str | None = None,
    ) -> MitigationAction:
        """Move the things of a finding into ``groups`` (for example the ``QuarantineGroup``), 1 to 10 groups."""
        if not 1 <= len(groups) <= 10:
            raise_if_any((scope, id), [f"groups has {len(groups)} entries; give 1 to 10 thing groups"])
        things = _arn(scope, "thing")
        action = MitigationAction(
            scope,
            id,
            action_name=action_name,
            params=iot.CfnMitigationAction.ActionParamsProperty(
                add_things_to_thing_group_params=iot.CfnMitigationAction.AddThingsToThingGroupParamsProperty(
                    thing_group_names=[g.thing_group_name for g in groups],
                    override_dynamic_groups=override_dynamic_groups,
                )
            ),
            statements=[
                iam.PolicyStatement(
                    actions=["iot:AddThingToThingGroup"], resources=[things, *[g.thing_group_arn for g in groups]]
                ),
                iam.PolicyStatement(actions=["iot:ListPrincipalThings"], resources=["*"]),
            ],
            description="Lets Device Defender move the things of a finding into the given thing groups",
        )
        _acknowledge(
            action,
            thing="the things of a finding are only known when the action runs",
            star="ListPrincipalThings (finding the things of a certificate) has no resource-level permission",
        )
        return action

    @staticmethod
    def deactivate_device_certificate(scope: Construct, id: str, *, action_name: str | None = None) -> MitigationAction:
        action = MitigationAction(
            scope,
            id,
            action_name=action_name,
            params=iot.CfnMitigationAction.ActionParamsProperty(
                update_device_certificate_params=iot.CfnMitigationAction.UpdateDeviceCertificateParamsProperty(
                    action="DEACTIVATE"
                )
            ),
            statements=[iam.PolicyStatement(actions=["iot:UpdateCertificate"], resources=[_arn(scope, "cert")])],
            description="Lets Device Defender deactivate the device certificate of a finding",
        )
        _acknowledge(action, cert="the certificate of a finding is only known when the action runs")
        return action

    @staticmethod
    def deactivate_ca_certificate(scope: Construct, id: str, *, action_name: str | None = None) -> MitigationAction:
        action = MitigationAction(
            scope,
            id,
            action_name=action_name,
            params=iot.CfnMitigationAction.ActionParamsProperty(
                update_ca_certificate_params=iot.CfnMitigationAction.UpdateCACertificateParamsProperty(
                    action="DEACTIVATE"
                )
            ),
            statements=[iam.PolicyStatement(actions=["iot:UpdateCACertificate"], resources=[_arn(scope, "cacert")])],
            description="Lets Device Defender deactivate the CA certificate of a finding",
        )
        _acknowledge(action, cacert="the CA certificate of a finding is only known when the action runs")
        return action

    @staticmethod
    def replace_default_policy_version(
        scope: Construct, id: str, *, action_name: str | None = None
    ) -> MitigationAction:
        """Add a blank policy version (no permissions) as the default of the policy a finding names."""
        action = MitigationAction(
            scope,
            id,
            action_name=action_name,
            params=iot.CfnMitigationAction.ActionParamsProperty(
                replace_default_policy_version_params=iot.CfnMitigationAction.ReplaceDefaultPolicyVersionParamsProperty(
                    template_name="BLANK_POLICY"
                )
            ),
            statements=[iam.PolicyStatement(actions=["iot:CreatePolicyVersion"], resources=[_arn(scope, "policy")])],
            description="Lets Device Defender replace the default version of the policy of a finding with a blank one",
        )
        _acknowledge(action, policy="the policy of a finding is only known when the action runs")
        return action

    @staticmethod
    def enable_iot_logging(
        scope: Construct, id: str, *, log_level: LogLevel = LogLevel.ERROR, action_name: str | None = None
    ) -> MitigationAction:
        """Turn on AWS IoT logging (v2) at ``log_level``; a logging role allowed to write only to the
        ``AWSIotLogsV2`` log group is created for it."""
        logs_arn = Stack.of(scope).format_arn(
            service="logs",
            resource="log-group",
            resource_name="AWSIotLogsV2:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        holder = Construct(scope, f"{id}Logging")
        logging_role = iam.Role(
            holder,
            "Role",
            assumed_by=service_principal("iot.amazonaws.com"),
            description="AWS IoT logging to CloudWatch",
        )
        logging_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:PutRetentionPolicy"],
                resources=[logs_arn],
            )
        )
        acknowledge(
            logging_role,
            {
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:AWSIotLogsV2:*]": (  # noqa: E501
                    "AWS IoT writes to log streams it names itself, in its own AWSIotLogsV2 log group only."
                )
            },
        )
        action = MitigationAction(
            scope,
            id,
            action_name=action_name,
            params=iot.CfnMitigationAction.ActionParamsProperty(
                enable_io_t_logging_params=iot.CfnMitigationAction.EnableIoTLoggingParamsProperty(
                    log_level=LogLevel(log_level).value, role_arn_for_logging=logging_role.role_arn
                )
            ),
            statements=[
                iam.PolicyStatement(actions=["iot:SetV2LoggingOptions"], resources=["*"]),
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[logging_role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "iot.amazonaws.com"}},
                ),
            ],
            description="Lets Device Defender turn on AWS IoT logging with the logging role",
        )
        action.logging_role = logging_role
        acknowledge_inline_policies(holder, "the AWS IoT logging role (writes to the AWSIotLogsV2 log group only)")
        _acknowledge(action, star="SetV2LoggingOptions is an account setting with no resource-level permission")
        return action

    @staticmethod
    def publish_finding_to_sns(
        scope: Construct, id: str, *, topic: TopicArgument, action_name: str | None = None
    ) -> MitigationAction:
        """:param topic: an ``AlertTopic`` or any ``sns.ITopic``; the action's role may publish to it."""
        problems: list[str] = []
        checked = alert_topic_of("topic", topic, problems)
        raise_if_any((scope, id), problems)
        assert checked is not None  # raise_if_any raised otherwise
        params = iot.CfnMitigationAction.ActionParamsProperty(
            publish_finding_to_sns_params=iot.CfnMitigationAction.PublishFindingToSnsParamsProperty(
                topic_arn=checked.topic_arn
            )
        )
        action = MitigationAction(
            scope,
            id,
            action_name=action_name,
            params=params,
            statements=[],
            description="Lets Device Defender publish a finding to the alert topic",
            grant=checked.grant_publish,
        )
        return action


def _arn(scope: Construct, resource: str) -> str:
    return Stack.of(scope).format_arn(
        service="iot", resource=resource, resource_name="*", arn_format=ArnFormat.SLASH_RESOURCE_NAME
    )


def _acknowledge(action: MitigationAction, **why: str) -> None:
    scoped = "arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>"
    reasons = {}
    for resource, reason in why.items():
        if resource == "star":
            reasons["AwsSolutions-IAM5[Resource::*]"] = f"{reason}; the statement allows that one action only."
        else:
            reasons[f"AwsSolutions-IAM5[Resource::{scoped}:{resource}/*]"] = (
                f"The {resource} resource of this mitigation action is only known per finding ({reason}); "
                "limited to this account and region and to the one action."
            )
    acknowledge(action.role, reasons)
