"""Queues that hold what could not be delivered or processed."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

DEAD_LETTER_RETENTION = Duration.days(14)  # the SQS maximum: time to inspect and replay


def dead_letter_queue(scope: Construct, id: str) -> sqs.Queue:
    """SSE-SQS encrypted (SNS can deliver to it without a key grant), TLS-only, 14 days' retention."""
    return sqs.Queue(
        scope,
        id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=DEAD_LETTER_RETENTION,
    )
