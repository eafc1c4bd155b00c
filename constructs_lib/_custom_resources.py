"""The aws-cdk-lib AwsCustomResource singleton function, shared by every SDK-call custom resource
in a stack (policy attachment, fleet indexing)."""

from __future__ import annotations

from aws_cdk import Stack, Validations
from constructs import Construct

from constructs_lib.nag import acknowledge


def acknowledge_provider_function(scope: Construct) -> None:
    """The AwsCustomResource function is a stack-wide singleton owned by aws-cdk-lib; its shape is
    fixed by the framework, so its findings are acknowledged there, narrowly and with reasons."""
    stack = Stack.of(scope)
    singleton = stack.node.try_find_child("AWS679f53fac002430cb0da5b7982bd2287")
    if singleton is None or Validations.ACKNOWLEDGED_RULES_METADATA_KEY in (
        entry.type for entry in singleton.node.metadata
    ):
        return
    acknowledge(
        singleton,
        {
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]": (  # noqa: E501
                "Role of the aws-cdk-lib AwsCustomResource singleton function, created by the framework: the AWS "
                "managed basic execution policy only lets it write its own CloudWatch logs; its IoT permissions "
                "are the inline AttachPolicy/DetachPolicy statement scoped to one policy and one thing group."
            ),
            "Serverless-LambdaDLQ": (
                "The AwsCustomResource function is invoked synchronously by CloudFormation, which receives and "
                "reports every failure itself; an asynchronous dead-letter queue would never receive anything."
            ),
            "Serverless-LambdaTracing": (
                "The AwsCustomResource function makes one SDK call per deployment and its settings are fixed by "
                "aws-cdk-lib; failures surface in CloudFormation events and its log group."
            ),
        },
    )
