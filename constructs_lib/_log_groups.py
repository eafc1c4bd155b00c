"""Log groups of this library's functions, encrypted with one customer-managed key per stack."""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_lib._jsii import service_principal

LOGS_KEY_ID = "IotDefenderLogsKey"


def encrypted_log_group(scope: Construct, id: str) -> logs.LogGroup:
    """One year's retention, encrypted with the stack's logs key (kept, as the log group is, on stack deletion)."""
    return logs.LogGroup(scope, id, retention=logs.RetentionDays.ONE_YEAR, encryption_key=logs_key(scope))


def logs_key(scope: Construct) -> kms.Key:
    """The stack's key for CloudWatch Logs: rotated yearly; CloudWatch Logs of this account and region
    may use it only for this account's log groups (encryption context ``aws:logs:arn``)."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(LOGS_KEY_ID)
    if isinstance(existing, kms.Key):
        return existing
    key = kms.Key(
        stack,
        LOGS_KEY_ID,
        description="Encrypts the CloudWatch Logs log groups of the IoT Device Defender functions",
        enable_key_rotation=True,
        removal_policy=RemovalPolicy.RETAIN,
    )
    log_groups = stack.format_arn(
        service="logs", resource="log-group", resource_name="*", arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="CloudWatchLogsOfThisAccount",
            principals=[service_principal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
        )
    )
    return key
