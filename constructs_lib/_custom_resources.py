"""The aws-cdk-lib AwsCustomResource singleton function, shared by every SDK-call custom resource
in a stack (policy attachment, fleet indexing)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from constructs_lib._queues import dead_letter_queue
from constructs_lib.nag import acknowledge, acknowledge_compliance, acknowledge_inline_policies

SINGLETON_ID = "AWS679f53fac002430cb0da5b7982bd2287"
# CloudFormation invokes it once per custom resource change; two at once covers a stack's few of them.
PROVIDER_RESERVED_CONCURRENCY = 2


def acknowledge_provider_function(scope: Construct) -> None:
    """The AwsCustomResource function is a stack-wide singleton created by aws-cdk-lib. This library
    gives it reserved concurrency and a dead-letter queue (escape hatches, once per stack), and
    acknowledges the rest of its findings there, narrowly and with reasons."""
    singleton = Stack.of(scope).node.try_find_child(SINGLETON_ID)
    if not isinstance(singleton, lambda_.Function) or singleton.node.try_find_child("DeadLetterQueue") is not None:
        return
    _harden(singleton)
    acknowledge(
        singleton,
        {
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]": (  # noqa: E501
                "Role of the aws-cdk-lib AwsCustomResource singleton function, created by the framework: the AWS "
                "managed basic execution policy only lets it write its own CloudWatch logs; its other permissions are "
                "the inline policies of the custom resources that use it, each limited to that resource's SDK call."
            ),
            "Serverless-LambdaTracing": (
                "The AwsCustomResource function makes one SDK call per custom resource change at deployment; "
                "CloudFormation stack events and the function's log group record each call and its failure."
            ),
        },
    )
    acknowledge_compliance(
        singleton.node.default_child or singleton,  # the function alone, not its role or queue
        {
            "LambdaInsideVPC": (
                "The AwsCustomResource function runs only during deployments and calls only the public AWS IoT "
                "API (AttachPolicy, DetachPolicy, UpdateIndexingConfiguration) over TLS with SigV4; it reaches no "
                "private resource, so a VPC would add network interfaces and endpoints without narrowing access."
            )
        },
    )
    acknowledge_inline_policies(singleton, "the AwsCustomResource function (sending to its dead-letter queue)")


def _harden(singleton: lambda_.Function) -> None:
    """Reserved concurrency, and a dead-letter queue for the asynchronous invocations CloudFormation makes."""
    dlq = dead_letter_queue(singleton, "DeadLetterQueue")
    dlq.grant_send_messages(singleton)
    function = singleton.node.default_child
    assert isinstance(function, lambda_.CfnFunction)
    function.reserved_concurrent_executions = PROVIDER_RESERVED_CONCURRENCY
    function.dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(target_arn=dlq.queue_arn)
    acknowledge(
        dlq,
        {
            "Serverless-SQSRedrivePolicy": (
                "This queue is the dead-letter queue of the AwsCustomResource function: it keeps for 14 days the "
                "event of an invocation that failed outright (timeout or crash) after Lambda's two retries; an "
                "SDK call that fails is reported to CloudFormation by the function and shows in the stack events."
            ),
            "AwsSolutions-SQS3": "This queue is the dead-letter queue of the AwsCustomResource function.",
        },
    )
