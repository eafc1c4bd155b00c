"""The IoT policy attached to the quarantine group.

A thing in the quarantine group keeps its own certificate policy, so this policy works by explicit
Deny (which always wins in AWS IoT policy evaluation) with narrow exceptions. A quarantined device:

- MAY connect, but only with its own thing name as client id (no impersonation of other devices);
- MAY use the MQTT jobs topics of its own thing (``$aws/things/<thing>/jobs/...``) and the jobs
  HTTPS actions on its own thing, so that operators can push a repair (firmware, new credentials);
- MAY NOT publish, subscribe or receive on any other topic, use retained messages, read or write
  any device shadow, or exchange its certificate for AWS credentials (credentials provider).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Stack
from constructs import Construct

THING = "${iot:Connection.Thing.ThingName}"

DENIED_EVERYWHERE = [
    "iot:RetainPublish",
    "iot:GetRetainedMessage",
    "iot:ListRetainedMessages",
    "iot:GetThingShadow",
    "iot:UpdateThingShadow",
    "iot:DeleteThingShadow",
    "iot:ListNamedShadowsForThing",
    "iot:AssumeRoleWithCertificate",
]
JOBS_HTTPS_ACTIONS = [
    "iot:DescribeJobExecution",
    "iot:GetPendingJobExecutions",
    "iot:StartNextPendingJobExecution",
    "iot:UpdateJobExecution",
]


def quarantine_policy_document(scope: Construct) -> dict[str, Any]:
    stack = Stack.of(scope)

    def arn(resource: str, name: str) -> str:
        return stack.format_arn(
            service="iot", resource=resource, resource_name=name, arn_format=ArnFormat.SLASH_RESOURCE_NAME
        )

    own_client = arn("client", THING)
    own_jobs_topics = arn("topic", f"$aws/things/{THING}/jobs/*")
    own_jobs_filters = arn("topicfilter", f"$aws/things/{THING}/jobs/*")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ConnectAsItself", "Effect": "Allow", "Action": "iot:Connect", "Resource": own_client},
            {
                "Sid": "UseOwnJobsTopics",
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:Receive"],
                "Resource": own_jobs_topics,
            },
            {
                "Sid": "SubscribeOwnJobsTopics",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": own_jobs_filters,
            },
            {
                "Sid": "UseOwnJobsHttps",
                "Effect": "Allow",
                "Action": JOBS_HTTPS_ACTIONS,
                "Resource": arn("thing", THING),
            },
            {"Sid": "DenyOtherClientIds", "Effect": "Deny", "Action": "iot:Connect", "NotResource": own_client},
            {
                "Sid": "DenyTopicsOutsideJobs",
                "Effect": "Deny",
                "Action": ["iot:Publish", "iot:Receive"],
                "NotResource": own_jobs_topics,
            },
            {
                "Sid": "DenySubscriptionsOutsideJobs",
                "Effect": "Deny",
                "Action": "iot:Subscribe",
                "NotResource": own_jobs_filters,
            },
            {
                "Sid": "DenyShadowsRetainedAndCredentials",
                "Effect": "Deny",
                "Action": DENIED_EVERYWHERE,
                "Resource": "*",
            },
        ],
    }
